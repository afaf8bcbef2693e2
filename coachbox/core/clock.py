"""The one source of time: a real clock for the app, a movable one for tests and simulations."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from coachbox.core.config import ConfigError

# Test-only: processes a test starts (serve, run, worker) read their time from it. Never set it in production.
TEST_NOW_VARIABLE = "COACHBOX_TEST_NOW"
TEST_NOW_FORMAT = (
    "an ISO-8601 instant with a UTC offset, e.g. 2026-03-02T20:30:00+00:00, optionally followed by "
    "@<Unix seconds> naming the real moment it stands for, e.g. 2026-03-02T20:30:00+00:00@1772483400.5"
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _aware(when: datetime | str) -> datetime:
    when = datetime.fromisoformat(when) if isinstance(when, str) else when
    if when.tzinfo is None:
        raise ValueError(f"{when.isoformat()} has no UTC offset: the clock needs an aware datetime")
    return when.astimezone(UTC)


class FakeClock:
    """A clock that only moves when told to (thread-safe, so a test can move it while a server runs)."""

    def __init__(self, start: datetime | str = "2026-03-02T05:00:00+00:00") -> None:
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, when: datetime | str) -> datetime:
        when = _aware(when)
        with self._lock:
            self._now = when
            return self._now


class OffsetClock:
    """Real time shifted to another instant: it reads `start` at the real moment `anchor` (Unix seconds; default:
    when it is made) and then runs forward with the monotonic clock.

    Processes given the same start and anchor read the same time (a Sanic worker or a lazily built worker clock
    made seconds later does not lag behind the process that made the row it reads); a wall-clock step during a run
    does not move it.
    """

    def __init__(self, start: datetime | str, *, anchor: float | None = None) -> None:
        wall, self._ticks = time.time(), time.monotonic()
        self._base = _aware(start) + timedelta(seconds=0.0 if anchor is None else wall - anchor)

    def now(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._ticks)


def encode_test_now(start: datetime | str, anchor: float | None = None) -> str:
    """The value of COACHBOX_TEST_NOW for a process that should read `start` at the real moment `anchor`
    (default: now), so that every process started with it agrees."""
    return f"{_aware(start).isoformat()}@{time.time() if anchor is None else anchor!r}"


def parse_test_now(value: str) -> tuple[datetime, float | None]:
    """COACHBOX_TEST_NOW's value → (instant, anchor or None); ConfigError naming the variable if malformed."""
    problem = f"{TEST_NOW_VARIABLE}={value!r} is not valid: expected {TEST_NOW_FORMAT}."
    text, at, anchor_text = value.strip().partition("@")
    try:
        start = datetime.fromisoformat(text)
        anchor = float(anchor_text) if at else None
    except ValueError:
        raise ConfigError(problem) from None
    if start.tzinfo is None:
        raise ConfigError(problem)
    return start.astimezone(UTC), anchor


def clock_from_environment(environ: Mapping[str, str]) -> Clock:
    """The system clock, unless the test-only COACHBOX_TEST_NOW sets the instant this process's time runs from."""
    value = environ.get(TEST_NOW_VARIABLE, "")
    if not value.strip():
        return SystemClock()
    start, anchor = parse_test_now(value)
    return OffsetClock(start, anchor=anchor)
