"""A learner's conversation session and rate-limit counters (migration 0030), read and written inside the turn."""

from __future__ import annotations

import sqlite3


def session(conn: sqlite3.Connection, learner_id: int, now: float) -> str | None:
    """The saved session's JSON, unless it expired."""
    row = conn.execute(
        "SELECT state FROM learner_sessions WHERE learner_id = ? AND expires_at > ?", (learner_id, now)
    ).fetchone()
    return row[0] if row else None


def save_session(conn: sqlite3.Connection, learner_id: int, state: str, expires_at: float) -> None:
    conn.execute(
        """INSERT INTO learner_sessions (learner_id, state, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (learner_id) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at""",
        (learner_id, state, expires_at),
    )


def forget_session(conn: sqlite3.Connection, learner_id: int) -> None:
    conn.execute("DELETE FROM learner_sessions WHERE learner_id = ?", (learner_id,))


def counters(conn: sqlite3.Connection, learner_id: int) -> tuple[int, int, int, int, str | None] | None:
    row = conn.execute(
        "SELECT minute, in_minute, hour, in_hour, noticed FROM learner_rate_limits WHERE learner_id = ?", (learner_id,)
    ).fetchone()
    return (row[0], row[1], row[2], row[3], row[4]) if row else None


def save_counters(conn: sqlite3.Connection, learner_id: int, values: tuple[int, int, int, int, str | None]) -> None:
    conn.execute(
        """INSERT INTO learner_rate_limits (learner_id, minute, in_minute, hour, in_hour, noticed)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (learner_id) DO UPDATE SET minute = excluded.minute, in_minute = excluded.in_minute,
               hour = excluded.hour, in_hour = excluded.in_hour, noticed = excluded.noticed""",
        (learner_id, *values),
    )


def forget_counters(conn: sqlite3.Connection, learner_id: int) -> None:
    conn.execute("DELETE FROM learner_rate_limits WHERE learner_id = ?", (learner_id,))


def prune(conn: sqlite3.Connection, now: float) -> tuple[int, int]:
    """Expired sessions, and counters whose hour is over: (sessions, counters) removed."""
    sessions = conn.execute("DELETE FROM learner_sessions WHERE expires_at <= ?", (now,)).rowcount
    counted = conn.execute("DELETE FROM learner_rate_limits WHERE hour < ?", (int(now) // 3600,)).rowcount
    return sessions, counted
