"""A scripted learner on the real service, store and sample content: driver.say("hi") → the bot's replies."""

from __future__ import annotations

import itertools

import diskcache
import pytest

from coachbox.channels.base import Inbound
from coachbox.content.importer import import_folder
from coachbox.turns.runner import Resources, handle_inbound_sync, run_event

_sids = itertools.count(1)


class Driver:
    def __init__(self, conn, cache, settings, clock, phone="+254712345678", name="Amina Wanjiru"):
        self.conn, self.cache, self.settings, self.clock = conn, cache, settings, clock
        self.res = Resources.build(settings)
        self.phone, self.name = phone, name
        self.learner_id = None

    @property
    def catalogue(self):
        return self.res.catalogue(self.conn)

    def inbound(self, text, *, sid=None, payload=None, media=()):
        return Inbound(
            "simulator",
            f"sim:{self.phone}",
            text,
            sid or f"SM{next(_sids):06d}",
            self.clock.now(),
            phone=self.phone,
            profile_name=self.name,
            button_payload=payload,
            media=media,
        )

    def send(self, text, **kw):
        outcome = handle_inbound_sync(
            self.conn,
            self.cache,
            self.settings,
            self.catalogue,
            self.res.texts,
            self.inbound(text, **kw),
            self.clock.now(),
        )
        self.learner_id = outcome.learner_id or self.learner_id
        return outcome

    def say(self, text, **kw) -> list[str]:
        return self.bodies(self.send(text, **kw).outbox_ids)

    def event(self, event) -> list[str]:
        outcome = run_event(
            self.conn,
            self.cache,
            self.settings,
            self.catalogue,
            self.res.texts,
            self.learner_id,
            event,
            self.clock.now(),
        )
        return self.bodies(outcome.outbox_ids)

    def bodies(self, ids):
        return [self.conn.execute("SELECT body FROM messages WHERE id = ?", (i,)).fetchone()[0] for i in ids]

    def learner(self):
        return self.conn.execute("SELECT * FROM learners WHERE id = ?", (self.learner_id,)).fetchone()

    def onboard(self, language="1", course="1"):
        self.say("hi")
        self.say("yes")
        self.say(language)
        self.say(course)
        return self.say("7")


@pytest.fixture
def cache(settings):
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    c = diskcache.Cache(str(settings.cache_dir), timeout=60)
    yield c
    c.close()


@pytest.fixture
def driver(conn, cache, settings, clock):
    import_folder(conn, settings.content_dir, settings, progress=None)
    return Driver(conn, cache, settings, clock)
