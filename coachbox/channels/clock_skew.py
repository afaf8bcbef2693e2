"""How far the box's clock is from the provider's: measured from the HTTP Date header of Twilio's answers.

The senders note it (in the cache, shared by every process of the box) and /healthz and `coachbox check` warn
past WARN_SECONDS. The look-up before a resend does not need it: it counts its window on Twilio's own clock
(channels/reconcile.py)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

CACHE_KEY = "channel:clock-offset"
WARN_SECONDS = 30.0  # beyond this, say so: the box's times (quiet hours, schedules, logs) are off by that much
# The Date header has whole seconds and the answer takes a moment to arrive: differences below this mean nothing.
RESOLUTION_SECONDS = 2.0
KEEP_SECONDS = 24 * 3600  # a measurement older than this is not shown (the box stopped sending)
_REWRITE_SECONDS = 60.0  # while it stays put, one cache write a minute per process, not one per send

_last_written: dict[int, tuple[float, float]] = {}  # this process's last write per cache: (offset, monotonic time)


def offset_seconds(provider_time: datetime, box_time: datetime) -> float:
    """Provider's clock minus the box's, in seconds (positive: the provider is ahead)."""
    return (provider_time - box_time).total_seconds()


def note(cache: Any, provider_time: datetime | None, box_time: datetime) -> None:
    """Remember the latest offset (the cache is shared, so /healthz in a web worker sees what the worker measured)."""
    if provider_time is None:
        return
    offset = offset_seconds(provider_time, box_time)
    moment = time.monotonic()
    last = _last_written.get(id(cache))
    if last is not None and abs(offset - last[0]) < RESOLUTION_SECONDS and moment - last[1] < _REWRITE_SECONDS:
        return
    cache.set(CACHE_KEY, {"offset_seconds": round(offset, 1), "measured_at": box_time.isoformat()}, expire=KEEP_SECONDS)
    _last_written[id(cache)] = (offset, moment)


def latest(cache: Any) -> dict | None:
    """{"offset_seconds", "measured_at"} of the last measurement, or None."""
    value = cache.get(CACHE_KEY)
    return value if isinstance(value, dict) else None


def is_skewed(offset: float) -> bool:
    return abs(offset) > WARN_SECONDS


def describe(offset: float) -> str:
    direction = "behind" if offset > 0 else "ahead of"
    return f"the box's clock is {abs(offset):.0f} s {direction} Twilio's"
