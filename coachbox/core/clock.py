"""The one source of time: a real clock for the app, a movable one for tests and simulations."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to (thread-safe, so a test can move it while a server runs)."""

    def __init__(self, start: datetime | str = "2026-03-02T05:00:00+00:00") -> None:
        start = datetime.fromisoformat(start) if isinstance(start, str) else start
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, when: datetime | str) -> datetime:
        when = datetime.fromisoformat(when) if isinstance(when, str) else when
        with self._lock:
            self._now = when.astimezone(UTC)
            return self._now
