"""kill -9 in the middle of a fan-out, then a restart: every due learner gets exactly one daily lesson."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coachbox import store
from coachbox.content.importer import import_folder
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]


def _seed(settings, count: int, due: datetime, lesson_time: str, tz: str = "Africa/Nairobi") -> None:
    conn = store.open_database(settings.db_path)
    import_folder(conn, settings.content_dir, settings, progress=None)
    course = conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]
    stamp = (due - timedelta(days=30)).isoformat()
    inbound = (due - timedelta(hours=1)).isoformat()
    with store.transaction(conn):
        for i in range(1, count + 1):
            conn.execute(
                """INSERT INTO learners (id, channel_key, channel, phone, name, timezone, lesson_time, status,
                                         current_course_id, last_inbound_at, next_lesson_at, created_at, updated_at)
                   VALUES (?, ?, 'whatsapp', ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)""",
                (
                    i,
                    f"whatsapp:+2547{i:08d}",
                    f"+2547{i:08d}",
                    f"Learner {i}",
                    tz,
                    lesson_time,
                    course,
                    inbound,
                    due.isoformat(),
                    stamp,
                    stamp,
                ),
            )
            conn.execute(
                "INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, ?)", (i, course, stamp)
            )
    conn.close()


def _config(tmp_path: Path, settings) -> Path:
    """A config file for child processes: the same data folder, quiet hours off (real clock, any hour)."""
    path = tmp_path / "coachbox.toml"
    path.write_text(
        f'[paths]\ndata_dir = "{settings.data_dir}"\ncontent_dir = "{REPO / "content"}"\n'
        '[schedule]\nquiet_hours_start = "00:00"\nquiet_hours_end = "00:00"\n[log]\nlevel = "WARNING"\njson = false\n',
        encoding="utf-8",
    )
    return path


def _counts(settings) -> tuple[int, int, int, int]:
    conn = store.connect(settings.db_path)
    try:
        done = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE kind = 'daily_lesson' AND status = 'done'"
        ).fetchone()[0]
        learners = conn.execute(
            "SELECT COUNT(DISTINCT learner_id) FROM deliveries WHERE kind = 'daily_lesson'"
        ).fetchone()[0]
        lessons = conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND kind = 'lesson'").fetchone()[
            0
        ]
        most = conn.execute(
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM progress GROUP BY learner_id)"
        ).fetchone()[0]
    finally:
        conn.close()
    return done, learners, lessons, most


def _runs(settings) -> list[str]:
    conn = store.connect(settings.db_path)
    try:
        return [r[0] for r in conn.execute("SELECT outcome FROM job_runs WHERE name = 'daily_lessons' ORDER BY id")]
    finally:
        conn.close()


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env["PYTHONPATH"] = str(REPO)
    return env | extra


@pytest.mark.slow
def test_it_sends_exactly_one_lesson_each_after_a_kill_9_mid_batch(tmp_path, settings):
    due = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    _seed(settings, 400, due, "07:00")
    config = _config(tmp_path, settings)
    now = (due + timedelta(seconds=30)).isoformat()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.schedule.fanout_child", str(config), now],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().startswith("batch 1")
        child.stdout.readline()  # batch 2 committed: kill -9 while batch 3 is being written
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    done, _, lessons, _ = _counts(settings)
    assert 0 < done < 400, "the kill must land mid fan-out"
    rerun = subprocess.run(
        [sys.executable, "-m", "tests.schedule.fanout_child", str(config), now],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    done, learners, lessons, most = _counts(settings)
    assert (done, learners, most) == (400, 400, 1)
    per_learner = lessons // 400
    assert lessons == 400 * per_learner and per_learner >= 1


@pytest.mark.slow
def test_it_survives_kill_9_of_a_real_worker_and_finishes_after_restart(tmp_path, settings, clock):
    now = clock.now()  # the run's instant (--at): the worker's clock starts there too (and runs on), whatever the hour
    if now.hour == 0 and now.minute < 5 or now.hour == 23 and now.minute > 55:
        pytest.skip("too close to UTC midnight for a lesson 'today' in UTC")
    due = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    count = 1500
    _seed(settings, count, due, due.strftime("%H:%M"), tz="UTC")
    config = _config(tmp_path, settings)
    command = [sys.executable, "-m", "coachbox", "--config", str(config), "worker"]
    env = _env(**clock_environ(now))  # one value for both workers: the restarted one's clock carries on
    worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _counts(settings)[0] == 0:
            assert worker.poll() is None, worker.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker never started the fan-out"
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        done = _counts(settings)[0]
        assert done < count, "the kill must land mid fan-out"
        worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        # Until the restarted run is recorded as finished too (a moment after its last batch commits).
        while _counts(settings)[0] < count or "ok" not in _runs(settings):
            assert worker.poll() is None, worker.stderr.read().decode()
            assert time.monotonic() < deadline, f"only {_counts(settings)[0]} of {count} after restart"
            time.sleep(0.2)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    done, learners, lessons, most = _counts(settings)
    assert (done, learners, most) == (count, count, 1)
    assert lessons % count == 0
    runs = _runs(settings)
    assert runs[0] == "interrupted" and "ok" in runs
