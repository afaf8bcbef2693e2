"""An advisory lock on the data folder: running processes hold it shared, `coachbox restore` needs it alone."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from coachbox.core.config import Settings

LOCK_NAME = ".coachbox.lock"


def _lock_path(settings: Settings) -> Path:
    return settings.data_dir / LOCK_NAME


def hold_shared(settings: Settings) -> IO[str]:
    """Take the shared lock for this process's lifetime; keep the returned file open (closing releases it).

    The web server and the worker each hold it, and so may several of them at once; the kernel drops it
    when the process dies, so a crash never leaves a stale lock behind (unlike a pid file).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(_lock_path(settings), "a+", encoding="utf-8")
    fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
    handle.seek(0)
    return handle


def data_dir_in_use(settings: Settings) -> bool:
    """Does a running server or worker hold this data folder?"""
    path = _lock_path(settings)
    if not path.exists():
        return False
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


@contextlib.contextmanager
def exclusive(settings: Settings) -> Iterator[bool]:
    """Hold the lock alone while the block runs; yields False (and holds nothing) when someone else has it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(settings), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
