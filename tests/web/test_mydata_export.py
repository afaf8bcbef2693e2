"""MYDATA end to end: the learner's turn, the worker's export file, the signed link fetched through the app."""

from __future__ import annotations

import itertools
import json
import re
import stat
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from coachbox.channels.base import Inbound
from coachbox.content.importer import import_folder
from coachbox.jobs.tasks import WorkerContext, register
from coachbox.learning import timing
from coachbox.schedule import housekeeping
from coachbox.turns import exports
from coachbox.turns.runner import handle_inbound

pytestmark = pytest.mark.anyio
PHONE = "+254712345678"
_sids = itertools.count(1)
LINK = re.compile(r"https?://\S+/media/\S+")


@pytest.fixture
def box(app, services, settings, conn):
    """The app, with the worker's tasks run inline (Huey in immediate mode) after each turn commits."""
    import_folder(conn, settings.content_dir, settings, progress=None)
    services.tasks = register(services.huey, settings, WorkerContext(settings, services)).extra
    return app


async def _say(services, text: str) -> list[str]:
    """The learner's message through the turn runner (simulator channel); every message the box wrote since."""
    before = services.db.run_sync(lambda c: c.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])
    inbound = Inbound(
        "simulator",
        f"sim:{PHONE}",
        text,
        f"SM{next(_sids):06d}",
        services.clock.now(),
        phone=PHONE,
        profile_name="Amina Wanjiru",
    )
    await handle_inbound(services, inbound)
    return services.db.run_sync(
        lambda c: [
            r[0]
            for r in c.execute("SELECT body FROM messages WHERE direction = 'out' AND id > ? ORDER BY id", (before,))
        ]
    )


def _link(bodies: list[str]) -> str:
    found = [m.group(0) for body in bodies for m in [LINK.search(body)] if m]
    assert len(found) == 1, bodies
    return urlsplit(found[0]).path


async def test_a_learner_gets_a_link_to_their_own_data_and_it_expires(box, services, settings, clock):
    await _say(services, "hi")
    replies = await _say(services, "mydata")
    assert "What we store about you" in replies[0] and "full copy" in replies[0]
    path = _link(replies)  # sent through the outbox, as every message is

    _, response = await box.asgi_client.get(path)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == 'attachment; filename="my-data.json"'
    assert "no-store" in response.headers["cache-control"]
    data = json.loads(response.body)
    assert data["learner"][0]["phone"] == PHONE
    said = [m["body"] for m in data["messages"] if m["direction"] == "in"]
    assert said == ["hi", "mydata"]
    [written] = list((settings.data_dir / "exports").iterdir())
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700

    # Once a day: asking again sends the same link, and writes no second file.
    clock.advance(hours=3)
    again = await _say(services, "my data")
    assert _link(again) == path and "same link" in again[-1]
    assert len(list((settings.data_dir / "exports").iterdir())) == 1

    clock.advance(hours=22)  # 25 h after the link was made
    _, response = await box.asgi_client.get(path)
    assert response.status == 403
    fresh = _link(await _say(services, "mydata"))  # a new day, a new file and link
    assert fresh != path
    assert len(list((settings.data_dir / "exports").iterdir())) == 2


async def test_the_nightly_housekeeping_removes_expired_exports(box, services, settings, clock):
    await _say(services, "hi")
    _link(await _say(services, "mydata"))
    tz = settings.org.default_timezone
    day = timing.local_day(clock.now(), tz) + timedelta(days=2)  # the first night after the link expired
    clock.set(timing.local_instant(day, timing.hhmm(settings.schedule.maintenance_time), tz))
    report = services.db.run_sync(
        lambda conn: housekeeping.run_nightly(conn, services, clock.now(), backup=lambda: "no backup")
    )
    assert "1 expired data exports" in report.summary()
    assert list((settings.data_dir / "exports").iterdir()) == []


async def test_erasure_removes_the_learners_export_files(box, services, settings):
    await _say(services, "hi")
    _link(await _say(services, "mydata"))
    assert len(list((settings.data_dir / "exports").iterdir())) == 1
    await _say(services, "delete")
    assert "erased" in (await _say(services, "yes"))[0]
    assert list((settings.data_dir / "exports").iterdir()) == []


def test_prune_keeps_links_that_still_work_and_removes_the_rest(tmp_path, clock):
    now = clock.now()
    kept = exports.write(tmp_path, 7, {"learner": []}, now)
    old = exports.write(tmp_path, 8, {"learner": []}, now.replace(year=now.year - 1))
    (tmp_path / "exports" / ".8-half-written.json.tmp").write_text("{")
    (tmp_path / "exports" / "README").write_text("not ours: left alone")
    assert exports.prune(tmp_path, now) == 2
    names = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert names == sorted(["README", kept.relative_path.split("/")[1]])
    assert exports.current(tmp_path, 7, now) == kept and exports.current(tmp_path, 8, now) is None
    assert not (tmp_path / old.relative_path).exists()
