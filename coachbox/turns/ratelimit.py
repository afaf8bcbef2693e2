"""Per-learner inbound rate limit, counted in the turn's own transaction: one polite notice, then silence."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from coachbox.store import turn_state

Verdict = Literal["allow", "notice", "silent"]


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_minute: int


def check(conn: sqlite3.Connection, learner_id: int, now: datetime, limits: Limits) -> Verdict:
    """Count this message in its minute and hour windows; over either limit, the first extra message gets
    a notice (once per window) and the rest get nothing. Fixed windows: one row per learner, read and written in
    the turn's transaction (the write lock makes it atomic across processes)."""
    stamp = int(now.timestamp())
    minute, hour = stamp // 60, stamp // 3600
    saved = turn_state.counters(conn, learner_id)
    m_window, in_minute, h_window, in_hour, noticed = saved or (minute, 0, hour, 0, None)
    in_minute = in_minute + 1 if m_window == minute else 1
    in_hour = in_hour + 1 if h_window == hour else 1
    verdict: Verdict = "allow"
    if in_minute > limits.per_minute or in_hour > limits.per_hour:
        window = f"h:{hour}" if in_hour > limits.per_hour else f"m:{minute}"
        verdict, noticed = ("silent", noticed) if noticed == window else ("notice", window)
    turn_state.save_counters(conn, learner_id, (minute, in_minute, hour, in_hour, noticed))
    return verdict


def forget(conn: sqlite3.Connection, learner_id: int) -> None:
    """Drop an erased learner's counters."""
    turn_state.forget_counters(conn, learner_id)
