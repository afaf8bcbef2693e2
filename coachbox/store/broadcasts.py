"""Queries for broadcasts: the audience rules, create, list with delivery progress, cancel.

The fan-out (one outbox row per learner, opt-outs and paused learners skipped) belongs to the scheduler; it gives
each row the idempotency key "broadcast:<id>:<learner_id>", so a broadcast's rows are one range of the unique
idempotency_key index and progress never scans the messages table.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from coachbox.store import inserted_id

TEMPLATE_KEY = "broadcast"  # [twilio.templates] broadcast: used outside the 24-hour window (the sender decides)
# Learners a broadcast reaches: not opted out (STOP), not paused by an admin, not erased.
REACHABLE = "l.opted_out = 0 AND l.status IN ('onboarding', 'active', 'finished')"
PROGRESS_ORDER = (
    "queued",
    "retry",
    "sending",
    "waiting",
    "sent",
    "delivered",
    "read",
    "failed",
    "undelivered",
    "cancelled",
)


def _key_range(broadcast_id: int) -> tuple[str, str]:
    # ';' sorts right after ':': every "broadcast:<id>:…" key lies in [lo, hi).
    return f"broadcast:{broadcast_id}:", f"broadcast:{broadcast_id};"


def audience_where(audience: str) -> tuple[str, list]:
    """SQL over learners `l` for an audience 'all' | 'course:<id>' | 'cohort:<name>'."""
    kind, _, value = audience.partition(":")
    if kind == "course":
        return (
            f"{REACHABLE} AND EXISTS (SELECT 1 FROM enrollments e WHERE e.learner_id = l.id "
            "AND e.course_id = ? AND e.status = 'active')",
            [int(value)],
        )
    if kind == "cohort":
        return f"{REACHABLE} AND l.cohort = ?", [value]
    return REACHABLE, []


def audience_size(conn: sqlite3.Connection, audience: str) -> int:
    where, args = audience_where(audience)
    return conn.execute(f"SELECT COUNT(*) FROM learners l WHERE {where}", args).fetchone()[0]


def create(
    conn: sqlite3.Connection, *, body: str, audience: str, scheduled_at: datetime, created_by: int, now: datetime
) -> int:
    return inserted_id(
        conn.execute(
            """INSERT INTO broadcasts (body, audience, template_key, scheduled_at, status, created_by, created_at)
               VALUES (?, ?, ?, ?, 'scheduled', ?, ?)""",
            (body, audience, TEMPLATE_KEY, scheduled_at.isoformat(), created_by, now.isoformat()),
        )
    )


def get(conn: sqlite3.Connection, broadcast_id: int) -> sqlite3.Row | None:
    return conn.execute(
        """SELECT b.*, a.email AS created_by_email FROM broadcasts b LEFT JOIN admins a ON a.id = b.created_by
           WHERE b.id = ?""",
        (broadcast_id,),
    ).fetchone()


def recent(conn: sqlite3.Connection, limit: int = 50) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT b.*, a.email AS created_by_email FROM broadcasts b LEFT JOIN admins a ON a.id = b.created_by
           ORDER BY b.scheduled_at DESC, b.id DESC LIMIT ?""",
        (limit,),
    ).fetchall()


def progress(conn: sqlite3.Connection, broadcast_id: int) -> dict[str, int]:
    """The broadcast's outbox rows by status (every status present, zeros included), plus 'total'."""
    lo, hi = _key_range(broadcast_id)
    counts = dict.fromkeys(PROGRESS_ORDER, 0)
    for status, n in conn.execute(
        "SELECT status, COUNT(*) FROM messages WHERE idempotency_key >= ? AND idempotency_key < ? GROUP BY status",
        (lo, hi),
    ):
        counts[status] = counts.get(status, 0) + n
    counts["total"] = sum(counts.values())
    return counts


def cancel(conn: sqlite3.Connection, broadcast_id: int, now: datetime) -> int | None:
    """Stop a scheduled or sending broadcast: None when it was not cancellable, else the number of unsent outbox
    rows cancelled (rows a sender has already claimed go out; call inside a transaction)."""
    cursor = conn.execute(
        "UPDATE broadcasts SET status = 'cancelled' WHERE id = ? AND status IN ('scheduled', 'sending')",
        (broadcast_id,),
    )
    if cursor.rowcount != 1:
        return None
    lo, hi = _key_range(broadcast_id)
    return conn.execute(
        """UPDATE messages SET status = 'cancelled', error_message = 'broadcast cancelled', updated_at = ?
           WHERE idempotency_key >= ? AND idempotency_key < ? AND direction = 'out'
             AND status IN ('queued', 'retry', 'waiting')""",
        (now.isoformat(), lo, hi),
    ).rowcount
