"""Processes a test starts: each in a process group of its own, stopped with all its children, output in a file.

`coachbox serve` and `run` spawn web workers and a Huey consumer. Killing only the parent leaves those running with
parent PID 1 (a browser test once left one behind), so `stop` asks the leader to stop them, then kills whatever
of the group is left and waits until it is empty.
Output goes to a file, not a pipe nobody reads: a chatty server would block once a pipe's 64 KB buffer filled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def start(argv: list[str], *, env: dict[str, str], cwd: Path, output: Path) -> subprocess.Popen:
    """Start argv as the leader of a new process group (session), its stdout and stderr going to `output`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as sink:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def stop(proc: subprocess.Popen, *, timeout: float = 15.0) -> None:
    """SIGTERM to the leader (as `docker stop` does: it stops its own children), SIGKILL to whatever of the group is
    left after `timeout`; returns once no process of the group is alive."""
    pgid = proc.pid
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(pgid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
