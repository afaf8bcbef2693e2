"""Per-learner inbound rate limit in diskcache (shared by every process): one polite notice, then silence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Verdict = Literal["allow", "notice", "silent"]


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_minute: int


def check(cache: Any, learner_id: int, now: datetime, limits: Limits) -> Verdict:
    """Count this message in its minute and hour windows; over either limit, the first extra message gets
    a notice (once per window) and the rest get nothing. Fixed windows: simple, and cheap on diskcache."""
    stamp = int(now.timestamp())
    minute_key = f"rl:m:{learner_id}:{stamp // 60}"
    hour_key = f"rl:h:{learner_id}:{stamp // 3600}"
    in_minute = cache.incr(minute_key, default=0, retry=True)
    if in_minute == 1:
        cache.touch(minute_key, expire=120)
    in_hour = cache.incr(hour_key, default=0, retry=True)
    if in_hour == 1:
        cache.touch(hour_key, expire=7200)
    if in_minute <= limits.per_minute and in_hour <= limits.per_hour:
        return "allow"
    window = hour_key if in_hour > limits.per_hour else minute_key
    # add() is atomic across processes: exactly one message per window gets the notice.
    if cache.add(f"rl:notice:{window}", 1, expire=7200, retry=True):
        return "notice"
    return "silent"


def forget(cache: Any, learner_id: int, now: datetime) -> None:
    """Drop an erased learner's counters (only the current windows exist: older ones have expired)."""
    stamp = int(now.timestamp())
    for window in (f"rl:m:{learner_id}:{stamp // 60}", f"rl:h:{learner_id}:{stamp // 3600}"):
        cache.delete(window, retry=True)
        cache.delete(f"rl:notice:{window}", retry=True)
