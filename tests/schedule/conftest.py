"""The scheduler on the real store, service and sample content, with learners placed in time zones by hand."""

from __future__ import annotations

import itertools

import diskcache
import pytest

from coachbox.content.importer import import_folder
from coachbox.schedule.coach import Coach

_phones = itertools.count(100)
_sids = itertools.count(1)


@pytest.fixture
def cache(settings):
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    c = diskcache.Cache(str(settings.cache_dir), timeout=60)
    yield c
    c.close()


@pytest.fixture
def box(conn, settings, cache):
    import_folder(conn, settings.content_dir, settings, progress=None)
    return Box(conn, Coach(settings, cache))


class Box:
    """A data folder with the sample courses, and a way to add learners who finished onboarding."""

    def __init__(self, conn, coach):
        self.conn, self.coach = conn, coach

    @property
    def course_id(self) -> int:
        return self.conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]

    def learner(
        self,
        tz="Africa/Nairobi",
        lesson_time="07:00",
        *,
        status="active",
        opted_out=False,
        name="Amina Wanjiru",
        last_inbound_at="2026-03-01T12:00:00+00:00",
        language="en",
        cohort=None,
        created_at="2026-02-01T00:00:00+00:00",
    ):
        phone = f"+2547000{next(_phones):05d}"
        cursor = self.conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, name, language, timezone, lesson_time, status,
                                     opted_out, current_course_id, last_inbound_at, cohort, created_at, updated_at)
               VALUES (?, 'whatsapp', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                f"whatsapp:{phone}",
                phone,
                name,
                language,
                tz,
                lesson_time,
                status,
                int(opted_out),
                self.course_id,
                last_inbound_at,
                cohort,
                created_at,
                created_at,
            ),
        )
        learner_id = cursor.lastrowid
        self.conn.execute(
            "INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, ?)",
            (learner_id, self.course_id, created_at),
        )
        return learner_id

    def say(self, learner_id, text, now):
        """The learner sends a message (through the real conversation turn); returns the reply bodies."""
        from coachbox.channels.base import Inbound
        from coachbox.turns.runner import handle_inbound_sync

        row = self.conn.execute("SELECT channel_key, phone FROM learners WHERE id = ?", (learner_id,)).fetchone()
        inbound = Inbound("whatsapp", row["channel_key"], text, f"SM{next(_sids):08d}", now, phone=row["phone"])
        res = self.coach.resources
        outcome = handle_inbound_sync(
            self.conn, self.coach.cache, self.coach.settings, res.catalogue(self.conn), res.texts, inbound, now
        )
        return [
            self.conn.execute("SELECT body FROM messages WHERE id = ?", (i,)).fetchone()[0] for i in outcome.outbox_ids
        ]

    def restart_course(self, learner_id):
        """Back to lesson 1 (the sample course has only a few lessons) and a fresh next-lesson instant."""
        self.conn.execute("UPDATE enrollments SET next_position = 1 WHERE learner_id = ?", (learner_id,))
        self.conn.execute("UPDATE learners SET next_lesson_at = NULL WHERE id = ?", (learner_id,))

    def outbox(self, learner_id=None, kind=None):
        sql = "SELECT * FROM messages WHERE direction = 'out'"
        args = []
        if learner_id is not None:
            sql += " AND learner_id = ?"
            args.append(learner_id)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return self.conn.execute(sql + " ORDER BY id", args).fetchall()

    def deliveries(self, learner_id, kind="daily_lesson"):
        return self.conn.execute(
            "SELECT * FROM deliveries WHERE learner_id = ? AND kind = ? ORDER BY key", (learner_id, kind)
        ).fetchall()

    def lessons_sent(self, learner_id):
        return [r["key"] for r in self.deliveries(learner_id) if r["status"] == "done"]
