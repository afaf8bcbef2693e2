"""Logs from every process: under `coachbox run` the web workers write the same JSON lines to data/logs/ as the
supervisor and the Huey consumer, with the request's fields, while the console shows short human lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_process_writes_json_lines_to_the_log_file(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env.update(
        {
            "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
            "COACHBOX_PATHS_CONTENT_DIR": str(tmp_path / "no-content"),
            "COACHBOX_SERVER_VERIFY_SIGNATURES": "true",
            "COACHBOX_TWILIO_AUTH_TOKEN": "test-token",
            "COACHBOX_TWILIO_ACCOUNT_SID": "ACtest",  # a Twilio box: its webhook checks signatures
            "PYTHONUNBUFFERED": "1",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), "run", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log_file = tmp_path / "data" / "logs" / "coachbox.log"
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/webhooks/twilio",
                data=b"From=whatsapp%3A%2B254700000001&Body=hi&MessageSid=SMforged",
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "forged"},
            )
            try:
                urllib.request.urlopen(request, timeout=2)
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except OSError:
                time.sleep(0.1)
        assert status == 403
        found: list[dict] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = _lines(log_file) if log_file.exists() else []
            found = [line for line in lines if line["msg"] == "twilio signature rejected"]
            if found and any(line["msg"] == "worker starting" for line in lines):
                break
            time.sleep(0.1)
        assert found, log_file.read_text() if log_file.exists() else "no log file"
        line = found[0]
        assert line["logger"] == "coachbox.web" or line["logger"].startswith("coachbox.")
        assert line["route"] == "POST /webhooks/twilio" and line["ip"] == "127.0.0.1" and line["request_id"]
        assert line["process"] != "main"  # written by a web worker, not the supervisor
        processes = {entry["process"] for entry in _lines(log_file)}
        assert "main" in processes and len(processes) >= 3, processes  # supervisor, web worker, Huey consumer
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = process.stdout.read()
    console = [line for line in output.splitlines() if "twilio signature rejected" in line]
    assert console and not console[0].lstrip().startswith("{"), output  # a short human line, not JSON
    assert "Traceback" not in output
