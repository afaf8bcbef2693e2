"""Free space on the data folder's disk: one `statvfs`, kept for a second (/healthz is polled often)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from coachbox.core.config import Settings

MB = 1024 * 1024
CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class DiskSpace:
    path: str
    free_bytes: int  # what this (unprivileged) process may still write
    total_bytes: int

    @property
    def free_mb(self) -> int:
        return self.free_bytes // MB

    @property
    def free_percent(self) -> float:
        return round(100 * self.free_bytes / self.total_bytes, 1) if self.total_bytes else 100.0


@dataclass(frozen=True)
class DiskVerdict:
    level: str  # ok | warn | error (below the floor)
    space: DiskSpace
    floor_mb: int
    message: str


_cache: dict[str, tuple[float, DiskSpace]] = {}  # path -> (monotonic time read, space)
_lock = threading.Lock()


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def disk_space(path: Path, *, cached: bool = True) -> DiskSpace:
    """Free and total bytes of the filesystem holding `path` (or its nearest existing parent)."""
    target = _existing(Path(path))
    key = str(target)
    now = time.monotonic()
    if cached:
        with _lock:
            hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    stat = os.statvfs(target)
    space = DiskSpace(key, stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize)
    with _lock:
        _cache[key] = (now, space)
    return space


def _mb(n: int) -> str:
    return f"{n // MB:,} MB"


def judge(settings: Settings, space: DiskSpace | None = None) -> DiskVerdict:
    """The data folder's disk against [server] min_free_disk_mb (error) and the warn thresholds (warn)."""
    space = space or disk_space(settings.data_dir)
    server = settings.server
    floor = max(server.min_free_disk_mb, 0)
    figures = f"{_mb(space.free_bytes)} free of {_mb(space.total_bytes)} ({space.free_percent:g} %) on {space.path}"
    if space.free_bytes < floor * MB:
        return DiskVerdict(
            "error",
            space,
            floor,
            f"disk nearly full: {figures}, below the floor of {floor:,} MB ([server] min_free_disk_mb)",
        )
    if space.free_bytes < server.warn_free_disk_mb * MB or space.free_percent < server.warn_free_disk_percent:
        return DiskVerdict(
            "warn",
            space,
            floor,
            f"disk space low: {figures} (warning below {server.warn_free_disk_mb:,} MB or "
            f"{server.warn_free_disk_percent} %)",
        )
    return DiskVerdict("ok", space, floor, f"disk: {figures}")
