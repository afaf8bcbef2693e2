"""`coachbox run` restarts a killed child (web worker, Huey consumer), says so in the log, and stops with exit 1
when one keeps dying; /healthz answers 503 naming the worker once its heartbeat is older than the limit."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import processes
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

WEB = "Sanic-Server-0-0"
CONSUMER = "Sanic-HueyConsumer-0"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(tmp_path: Path, instant, command: str = "run", **extra: str):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_") or k == "COACHBOX_TEST_SESSION"}
    env.update(
        {
            "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
            "COACHBOX_PATHS_CONTENT_DIR": str(tmp_path / "no-content"),
            "COACHBOX_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **clock_environ(instant),
            **extra,
        }
    )
    argv = [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), command, "--port", str(port)]
    proc = processes.start(argv, env=env, cwd=tmp_path, output=tmp_path / "output.txt")
    return proc, f"http://127.0.0.1:{port}/healthz"


def _health(url: str) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, {}


def _wait_for(what, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def _children(pid: int) -> dict[str, int]:
    """The supervisor's children by Sanic's process name (from SANIC_WORKER_NAME in their environment)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            for item in (entry / "environ").read_bytes().split(b"\0"):
                if item.startswith(b"SANIC_WORKER_NAME="):
                    found[item.split(b"=", 1)[1].decode()] = int(entry.name)
        except OSError:
            continue
    return found


def _log(tmp_path: Path) -> list[dict]:
    path = tmp_path / "data" / "logs" / "coachbox.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _logged(tmp_path: Path, msg: str, child: str) -> list[dict]:
    return [line for line in _log(tmp_path) if line.get("msg") == msg and line.get("child") == child]


def test_a_killed_web_worker_and_a_killed_consumer_are_restarted(tmp_path, instant):
    proc, url = _start(tmp_path, instant)
    try:
        _wait_for(lambda: _health(url)[0] == 200)
        first = _wait_for(lambda: (lambda c: c if {WEB, CONSUMER} <= c.keys() else None)(_children(proc.pid)))

        os.kill(first[WEB], signal.SIGKILL)
        killed = time.monotonic()
        _wait_for(lambda: _children(proc.pid).get(WEB) not in (None, first[WEB]))
        _wait_for(lambda: _health(url)[0] == 200)
        web_back = time.monotonic() - killed
        assert web_back < 10, web_back  # 1 s back-off + the web app's start-up
        died = _logged(tmp_path, "child process died; restarting it", WEB)
        assert died and died[0]["exitcode"] == -9 and died[0]["restart_in_seconds"] == 1.0
        assert _logged(tmp_path, "restarting child process", WEB)

        status, before = _health(url)
        os.kill(first[CONSUMER], signal.SIGKILL)
        _wait_for(lambda: _children(proc.pid).get(CONSUMER) not in (None, first[CONSUMER]))
        assert _logged(tmp_path, "child process died; restarting it", CONSUMER)
        # The restarted consumer beats at once: /healthz shows a tick newer than the one before the kill.
        status, body = _wait_for(
            lambda: (
                lambda s, b: (s, b) if b.get("worker", {}).get("last_tick") != before["worker"]["last_tick"] else None
            )(*_health(url))
        )
        assert status == 200 and body["worker"]["ok"] is True, body
        assert proc.poll() is None  # the supervisor itself never went down
    finally:
        processes.stop(proc)


def test_the_box_exits_non_zero_when_a_child_keeps_dying(tmp_path, instant):
    proc, url = _start(tmp_path, instant)
    try:
        _wait_for(lambda: _health(url)[0] == 200)
        pid = _wait_for(lambda: _children(proc.pid).get(CONSUMER))
        for _ in range(5):  # back-off 1 + 2 + 4 + 8 s between the deaths, then the fifth gives up
            os.kill(pid, signal.SIGKILL)
            previous = pid

            def replaced_or_exited(previous: int = previous) -> int | None:
                if proc.poll() is not None:
                    return -1
                new = _children(proc.pid).get(CONSUMER)
                return new if new not in (None, previous) else None

            pid = _wait_for(replaced_or_exited)
            if pid == -1:
                break
        assert proc.wait(timeout=30) == 1
        assert [line for line in _log(tmp_path) if line.get("msg", "").startswith("child process keeps dying")]
        assert "kept dying" in (tmp_path / "output.txt").read_text()
    finally:
        processes.stop(proc)


def test_healthz_answers_503_naming_the_worker_when_it_is_silent_past_the_limit(tmp_path, instant):
    # `serve` runs no consumer, so no heartbeat comes; a 2 s limit makes the silence show quickly.
    proc, url = _start(tmp_path, instant, "serve", COACHBOX_SERVER_WORKER_SILENCE_SECONDS="2")
    try:
        status, body = _wait_for(lambda: (lambda s, b: (s, b) if s == 503 else None)(*_health(url)))
        assert body["worker"]["ok"] is False and body["worker"]["last_tick"] is None
        assert "worker (Huey consumer)" in body["worker"]["error"]
        assert body["db"]["ok"] is True  # the web process reaches the database: only the worker is wrong
    finally:
        processes.stop(proc)
