"""The real processes: `coachbox run` starts web + worker and stops both on SIGTERM; bad input exits 1 cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env.update(
        {
            "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
            "COACHBOX_PATHS_CONTENT_DIR": str(tmp_path / "no-content"),  # content import is tested on its own
            "COACHBOX_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def _coachbox(tmp_path: Path, *argv: str, config: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "coachbox", "--config", str(config or REPO / "coachbox.toml"), *argv]
    return subprocess.run(args, env=_env(tmp_path, **env), cwd=tmp_path, capture_output=True, text=True, timeout=60)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    result, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            result.append(child)
            todo.append(child)
    return result


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"coachbox exited early with {process.returncode}: {process.stdout.read()}")
        try:
            status, body = _get(url)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no healthy {url} within {timeout} s")


def test_it_runs_web_and_worker_and_stops_both_on_sigterm(tmp_path, instant):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), "run", "--port", str(port)],
        env=_env(tmp_path, **clock_environ(instant)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        body = _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert body["db"]["ok"] and body["queue"]["ok"] and body["channel"] == "simulator"
        log = tmp_path / "data" / "logs" / "coachbox.log"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "worker starting" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.1)
        assert "worker starting" in log.read_text()  # the Huey consumer came up beside the server
        family = _descendants(process.pid)
        assert len(family) >= 2, family  # at least one web worker and the Huey consumer

        from coachbox.core.config import Settings
        from coachbox.core.datalock import data_dir_in_use

        assert data_dir_in_use(Settings.load(REPO / "coachbox.toml", _env(tmp_path)))

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        assert code == 0, process.stdout.read()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(_alive(pid) for pid in family):
            time.sleep(0.05)
        assert not [pid for pid in family if _alive(pid)]
        output = process.stdout.read()
        assert f"http://127.0.0.1:{port}/admin/setup?token=" in output  # the one-time owner link, on the real port
        # The link comes in the framed block with the address, after the log's start-up lines, where it is seen.
        banner = output.split(f"coachbox is running on http://127.0.0.1:{port}", 1)[1].split("Press Ctrl-C", 1)[0]
        assert "/admin/setup?token=" in banner and "/admin/simulator" in banner
        assert "Traceback" not in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_it_stops_cleanly_when_signalled_the_moment_it_is_healthy(tmp_path, instant):
    # Sanic 25.x hung forever on a signal that arrived during start-up acks (see appliance.serve).
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), "run", "--port", str(port)],
        env=_env(tmp_path, COACHBOX_LOG_LEVEL="WARNING", **clock_environ(instant)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def test_it_names_the_line_of_broken_toml(tmp_path):
    config = tmp_path / "coachbox.toml"
    config.write_text('[server]\nport = 8000\nhost = "127.0.0.1\n')
    _assert_clean_failure(_coachbox(tmp_path, "check", config=config), str(config), "line 3")


def test_it_names_an_unknown_key(tmp_path):
    config = tmp_path / "coachbox.toml"
    config.write_text("[server]\nprot = 8000\n")
    _assert_clean_failure(_coachbox(tmp_path, "init", config=config), "unknown key server.prot")


def test_it_explains_a_data_folder_it_cannot_write(tmp_path):
    # A path below a regular file cannot be created even by root (chmod does not stop root).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = _coachbox(tmp_path, "init", COACHBOX_PATHS_DATA_DIR=str(blocker / "data"))
    _assert_clean_failure(result, f"data folder {blocker / 'data'} is not writable")
    assert blocker.read_text() == ""


def test_it_explains_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _coachbox(tmp_path, "serve", "--port", str(port))
    _assert_clean_failure(result, f"port {port} on 127.0.0.1 is already in use", "--port")


def test_it_refuses_a_corrupt_backup(tmp_path):
    assert _coachbox(tmp_path, "init").returncode == 0
    bad = tmp_path / "backup.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    before = (tmp_path / "data" / "coachbox.db").read_bytes()
    _assert_clean_failure(_coachbox(tmp_path, "restore", str(bad), "--force"), str(bad), "Nothing was changed")
    assert (tmp_path / "data" / "coachbox.db").read_bytes() == before
