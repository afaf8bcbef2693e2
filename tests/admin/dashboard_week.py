"""A data folder with a week of a class's activity, made through the real engine and scheduler on a fake clock.

Six learners in two classes start on Monday 2 March 2026 (08:00 in Nairobi); every morning the scheduler sends the
daily lesson at 07:00 and each learner answers its quiz (through the engine, as WhatsApp messages would): four
answer right, two ("struggles") answer wrong, one ("quits") stops answering after Tuesday. The outbox is drained
through the simulator channel and the nightly roll-up is run for each finished day. `coachbox serve` then opens the
folder on Sunday 8 March at 09:00 in Nairobi (`WEEK_LATER`): the seventh and last lesson went out at 07:00 and
was answered, live figures of a day the roll-up has not seen yet.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, timedelta
from pathlib import Path

import diskcache

from coachbox import store
from coachbox.admin.passwords import hash_password
from coachbox.channels.sender import drain
from coachbox.content.importer import import_folder
from coachbox.core.clock import FakeClock
from coachbox.core.config import Settings
from coachbox.jobs.queue import create_huey
from coachbox.roots.services import build_services
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.rollups import roll_up
from tests.conversation.conftest import Driver

REPO = Path(__file__).resolve().parents[2]
START = "2026-03-02T05:00:00+00:00"  # Monday, 08:00 in Nairobi
WEEK_LATER = "2026-03-08T06:00:00+00:00"  # Sunday, 09:00 in Nairobi
TZ = "Africa/Nairobi"
LEARNERS = (  # phone, name, class, how they do
    ("+254700000001", "Amina Wanjiru", "Form 2A", "good"),
    ("+254700000002", "Baraka Otieno", "Form 2A", "good"),
    ("+254700000003", "Chausiku Njeri", "Form 2A", "struggles"),
    ("+254700000004", "Daudi Kamau", "Form 2B", "good"),
    ("+254700000005", "Eshe Achieng", "Form 2B", "quits"),
    ("+254700000006", "Faraji Mwangi", "Form 2B", "struggles"),
)


def settings_for(data: Path) -> Settings:
    env = {
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
    }
    return Settings.load(REPO / "coachbox.toml", env)


def add_owner(data: Path, email: str, password: str) -> None:
    conn = store.open_database(settings_for(data).db_path)
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'owner', ?)",
        (email, hash_password(password), START),
    )
    conn.close()


def answer_quiz(conn, driver: Driver, right: bool) -> None:
    """Answer each question of the learner's newest lesson, right or wrong, as a learner would type it."""
    row = conn.execute(
        "SELECT lesson_id FROM progress WHERE learner_id = ? ORDER BY delivered_at DESC, id DESC LIMIT 1",
        (driver.learner_id,),
    ).fetchone()
    if row is None:
        return
    questions = conn.execute(
        "SELECT kind, choices, answer FROM questions WHERE lesson_id = ? AND published = 1 ORDER BY position",
        (row[0],),
    ).fetchall()
    for kind, choices, answer in questions:
        answer = json.loads(answer)
        if kind == "choice":
            picked = answer if right else answer % len(json.loads(choices)) + 1
            said = "ABCDEFGH"[picked - 1]
        elif kind == "true_false":
            said = "true" if bool(answer) == right else "false"
        else:
            said = (answer[0] if isinstance(answer, list) else str(answer)) if right else "no idea"
        driver.say(said)


def seed_week(data: Path) -> None:
    """The week described above, in the data folder `data`."""
    settings = settings_for(data)
    conn = store.open_database(settings.db_path)
    import_folder(conn, settings.content_dir, settings, progress=None)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    cache = diskcache.Cache(str(settings.cache_dir))
    clock = FakeClock(START)
    services = build_services(settings, clock=clock, huey=create_huey(settings, immediate=True))
    coach = Coach(settings, cache)
    drivers = []
    for phone, name, cohort, how in LEARNERS:
        driver = Driver(conn, cache, settings, clock, phone=phone, name=name)
        driver.onboard()
        conn.execute("UPDATE learners SET cohort = ? WHERE id = ?", (cohort, driver.learner_id))
        answer_quiz(conn, driver, how != "struggles")
        drivers.append((driver, how))
        clock.advance(minutes=2)
    asyncio.run(drain(services, seconds=5))  # the simulator channel "sends" the week's messages as they are due
    for day in range(1, 7):
        roll_up(conn, date(2026, 3, 1) + timedelta(days=day), TZ)  # the night before
        clock.set(f"2026-03-{2 + day:02d}T04:00:00+00:00")  # 07:00 in Nairobi: the daily lessons
        run_daily_lessons(conn, coach, clock.now())
        clock.advance(minutes=30)
        for driver, how in drivers:
            if how == "quits" and day >= 2:
                continue
            answer_quiz(conn, driver, how != "struggles")
            clock.advance(minutes=3)
        asyncio.run(drain(services, seconds=5))
    services.db.close()
    cache.close()
    conn.close()


if __name__ == "__main__":  # python -m tests.admin.dashboard_week DATA_DIR: a folder to look at by hand
    seed_week(Path(sys.argv[1]))
