"""The pace of sending, shared by every process through diskcache: the rate cap and the brake after a 429."""

from __future__ import annotations

import time
from typing import Any

RATE_KEY = "outbox:twilio:next-slot"
# A 429 (20429) means "slow down" for the whole account, not just for the message that got it: every sender in
# every process waits out a short brake (Retry-After, else 1 s, at most PAUSE_MAX_SECONDS) before its next send.
# The message that got the 429 waits its full Retry-After through its own row's backoff.
PAUSE_KEY = "outbox:twilio:paused-until"
PAUSE_DEFAULT_SECONDS = 1.0
PAUSE_MAX_SECONDS = 5.0


def reserve_slots(cache: Any, count: int, rate: float, *, key: str = RATE_KEY) -> float:
    """Reserve `count` send slots spaced 1/rate apart, shared by every process through diskcache.

    A virtual-scheduling bucket (GCRA with no burst): the cache holds the next free slot time; each process
    takes a run of slots in one transaction. So in any window of W seconds at most W*rate+1 sends start,
    whatever the number of processes. Returns the wall-clock time of the first slot.
    """
    with cache.transact(retry=True):
        now = time.time()
        start = max(now, float(cache.get(key, 0.0)))
        cache.set(key, start + count / rate)
    return start


def pause_sending(cache: Any, seconds: float | None, *, key: str = RATE_KEY) -> float:
    """Twilio answered 429: hold every process's sends for a short brake. Returns when the pause ends."""
    seconds = min(PAUSE_MAX_SECONDS, max(0.0, PAUSE_DEFAULT_SECONDS if seconds is None else seconds))
    with cache.transact(retry=True):
        until = time.time() + seconds
        if float(cache.get(PAUSE_KEY, 0.0) or 0.0) < until:
            cache.set(PAUSE_KEY, until, expire=PAUSE_MAX_SECONDS + 60)
        if float(cache.get(key, 0.0) or 0.0) < until:
            cache.set(key, until)  # slots reserved from now on start after the pause
    return until


def paused_until(cache: Any) -> float:
    """Wall-clock end of the current 429 pause (0 when none)."""
    return float(cache.get(PAUSE_KEY, 0.0) or 0.0)
