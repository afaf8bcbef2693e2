"""What browser tests share: Debian's Chromium and its flags, and a real `coachbox serve` to point it at."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import processes

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install chromium"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, env: dict[str, str], output: Path) -> subprocess.Popen:
    """`coachbox serve` on `port` (its own process group, output in `output`), once /healthz answers."""
    proc = processes.start(
        [sys.executable, "-m", "coachbox", "serve", "--port", str(port)], env=env, cwd=REPO, output=output
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                processes.stop(proc)
                pytest.fail("server did not start: " + output.read_text(errors="replace")[-2000:])
            time.sleep(0.2)


def box_environ(data: Path) -> dict[str, str]:
    """The environment of a box whose data folder is `data`, with the repository's courses and locales."""
    return {
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
    }


def prepared_box(data: Path):
    """What `coachbox init` does (the schema and the courses), for a box in `data`: its open connection."""
    # lazy: tests/browser.py is imported by every browser test module, most of which never need the store
    from coachbox import store
    from coachbox.content.importer import import_folder
    from coachbox.core.config import Settings

    conn = store.open_database(data / "coachbox.db")
    import_folder(conn, REPO / "content", Settings.load(REPO / "coachbox.toml", box_environ(data)), progress=None)
    return conn
