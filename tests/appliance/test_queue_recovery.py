"""A corrupt queue.db does not stop the box: it is moved aside on start, a new one is made, the event is logged and
kept for the operations page, scheduled work resumes from coachbox.db; `coachbox check` reports it."""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from coachbox import store
from coachbox.cli.main import main
from coachbox.core.config import Settings
from coachbox.jobs.queue import create_huey
from coachbox.roots.appliance import init_box
from coachbox.store import queue_file
from tests import processes
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]
CORRUPTIONS = ("garbage_pages", "truncated", "header_zeroed")


def _busy_queue(settings: Settings) -> bytes:
    """A queue.db holding 2,000 pending tasks, checkpointed into one file; returns its bytes."""
    huey = create_huey(settings)

    @huey.task()
    def noop(n):
        return n

    for n in range(2000):
        noop(n)
    huey.storage.checkpoint()
    huey.storage.close()
    return settings.queue_path.read_bytes()


def corrupt(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "garbage_pages":
        noise = random.Random(7)
        damaged = bytearray(raw)
        for start in range(2 * 4096, len(damaged), 3 * 4096):  # every third page after the first two
            damaged[start : start + 4096] = bytes(
                noise.randrange(256) for _ in range(len(damaged[start : start + 4096]))
            )
        path.write_bytes(bytes(damaged))
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "header_zeroed":
        path.write_bytes(bytes(100) + raw[100:])
    else:
        raise ValueError(how)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").write_bytes(b"left over")  # what a crashed process leaves beside it


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_it_tells_a_corrupt_queue_from_a_good_one(settings, how):
    _busy_queue(settings)
    assert queue_file.problem(settings.queue_path) is None
    assert queue_file.problem(settings.queue_path, read_only=True) is None
    corrupt(settings.queue_path, how)
    assert queue_file.problem(settings.queue_path, read_only=True) is not None
    with pytest.raises(Exception):  # noqa: B017 - before this change both children died here
        create_huey(settings).pending_count()


def test_a_missing_or_empty_queue_is_not_corrupt(settings):
    assert queue_file.problem(settings.queue_path) is None
    settings.data_dir.mkdir(parents=True)
    settings.queue_path.write_bytes(b"")
    assert queue_file.problem(settings.queue_path) is None


def test_moving_aside_takes_the_wal_and_shm_along(settings, instant):
    settings.data_dir.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.queue_path}{suffix}").write_bytes(b"broken" + suffix.encode())
    moved = queue_file.move_aside(settings.queue_path, instant)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == [moved.name, f"{moved.name}-shm", f"{moved.name}-wal"]
    assert Path(f"{moved}-wal").read_bytes() == b"broken-wal"  # never replayed into the new queue
    settings.queue_path.write_bytes(b"broken again")
    assert queue_file.move_aside(settings.queue_path, instant).name == f"{moved.name}-2"  # same second: no overwrite


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_init_box_moves_a_corrupt_queue_aside_and_records_it(settings, instant, monkeypatch, how):
    monkeypatch.setenv("COACHBOX_TEST_NOW", clock_environ(instant)["COACHBOX_TEST_NOW"])
    store.open_database(settings.db_path).close()
    _busy_queue(settings)
    corrupt(settings.queue_path, how)
    init_box(settings, quiet=True, import_content=False)

    aside = sorted(p.name for p in settings.data_dir.glob("queue.db.corrupt-*"))
    stamp = instant.strftime("%Y%m%dT%H%M%SZ")
    assert aside[0].startswith(f"queue.db.corrupt-{stamp[:11]}")  # named by the box's clock, not the wall's
    assert not settings.queue_path.exists()
    huey = create_huey(settings)
    assert huey.pending_count() == 0  # a new, empty queue
    conn = store.connect(settings.db_path)
    try:
        event = queue_file.last_recovery(conn)
    finally:
        conn.close()
    assert event is not None and event["moved_to"] == aside[0] and event["reason"]
    log = (settings.data_dir / "logs" / "coachbox.log").read_text()
    assert "queue database replaced" in log and aside[0] in log


def test_coachbox_check_reports_a_corrupt_queue(settings, monkeypatch, capsys):
    store.open_database(settings.db_path).close()
    _busy_queue(settings)
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COACHBOX_PATHS_CONTENT_DIR", str(REPO / "content"))
    main(["--config", str(REPO / "coachbox.toml"), "check"])
    assert "queue database" in capsys.readouterr().out
    corrupt(settings.queue_path, "header_zeroed")
    before = sorted(p.name for p in settings.data_dir.iterdir())
    assert main(["--config", str(REPO / "coachbox.toml"), "check"]) == 1
    out = capsys.readouterr().out
    assert "queue.db is unusable" in out and "moves a broken queue aside" in out
    assert sorted(p.name for p in settings.data_dir.iterdir()) == before  # the check changes nothing


# -- the real box -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthz(url: str, proc, output: Path, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"coachbox exited with {proc.returncode}:\n{output.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no healthy {url} within {timeout} s:\n{output.read_text()}")


@pytest.mark.slow
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_coachbox_run_starts_on_a_corrupt_queue(tmp_path, instant, how):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env.update(
        {
            "COACHBOX_PATHS_DATA_DIR": str(data),
            "COACHBOX_PATHS_CONTENT_DIR": str(tmp_path / "no-content"),
            "COACHBOX_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **clock_environ(instant),
        }
    )
    settings = Settings.load(REPO / "coachbox.toml", env)
    store.open_database(settings.db_path).close()
    _busy_queue(settings)
    corrupt(settings.queue_path, how)

    port, output = _free_port(), tmp_path / "run.out"
    argv = [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), "run", "--port", str(port)]
    proc = processes.start(argv, env=env, cwd=tmp_path, output=output)
    try:
        body = _healthz(f"http://127.0.0.1:{port}/healthz", proc, output)
        assert body["queue"]["ok"] and body["db"]["ok"], body
        assert list(data.glob("queue.db.corrupt-*")), sorted(p.name for p in data.iterdir())
        log = (data / "logs" / "coachbox.log").read_text()
        assert "queue database replaced" in log
        # Scheduled work resumes from the tables: the consumer's periodic jobs run on the new queue.
        deadline, ran = time.monotonic() + 20, None
        while time.monotonic() < deadline and not ran:
            with sqlite3.connect(settings.db_path) as conn:
                ran = conn.execute("SELECT 1 FROM job_runs WHERE name = 'daily_lessons'").fetchone()
            time.sleep(0.2)
        assert ran, output.read_text()
        assert "Traceback" not in output.read_text()  # no child crashed on the way up
    finally:
        processes.stop(proc)  # (the whole group gets SIGTERM: Sanic's state manager may complain as it goes)
