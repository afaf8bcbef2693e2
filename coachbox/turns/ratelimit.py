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
    a notice (once per window) and the rest get nothing. Fixed windows: simple, and cheap on diskcache.

    One entry per learner, read and written in one cache transaction (atomic across processes; inside a turn
    it joins the turn's): two cache operations a message instead of a counter, an expiry and a marker each."""
    stamp = int(now.timestamp())
    minute, hour = stamp // 60, stamp // 3600
    with cache.transact(retry=True):
        saved = cache.get(key(learner_id), retry=True)
        # (minute window, count in it, hour window, count in it, the window that got its notice)
        m_window, in_minute, h_window, in_hour, noticed = (
            saved if isinstance(saved, tuple) and len(saved) == 5 else (minute, 0, hour, 0, None)
        )
        in_minute = in_minute + 1 if m_window == minute else 1
        in_hour = in_hour + 1 if h_window == hour else 1
        verdict: Verdict = "allow"
        if in_minute > limits.per_minute or in_hour > limits.per_hour:
            window = f"h:{hour}" if in_hour > limits.per_hour else f"m:{minute}"
            verdict, noticed = ("silent", noticed) if noticed == window else ("notice", window)
        cache.set(key(learner_id), (minute, in_minute, hour, in_hour, noticed), expire=7200, retry=True)
    return verdict


def key(learner_id: int) -> str:
    return f"rl:{learner_id}"


def forget(cache: Any, learner_id: int, now: datetime) -> None:
    """Drop an erased learner's counters."""
    cache.delete(key(learner_id), retry=True)
