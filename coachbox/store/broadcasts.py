"""Queries for broadcasts: the audience rules, create, list with delivery progress, cancel.

The fan-out (one outbox row per learner, opt-outs and paused learners skipped) belongs to the scheduler; it gives
each row the idempotency key "broadcast:<id>:<learner_id>", so a broadcast's rows are one range of the unique
idempotency_key index and progress never scans the messages table.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from coachbox.store import inserted_id, messages

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
        # Every member of the class (learner_classes, migration 0021), not only those whose main class it is: the
        # learners a teacher of the class sees are the learners their broadcast reaches.
        return f"{REACHABLE} AND l.id IN (SELECT learner_id FROM learner_classes WHERE class_name = ?)", [value]
    return REACHABLE, []


def audience_size(conn: sqlite3.Connection, audience: str) -> int:
    where, args = audience_where(audience)
    return conn.execute(f"SELECT COUNT(*) FROM learners l WHERE {where}", args).fetchone()[0]


def audience_by_timezone(conn: sqlite3.Connection, audience: str) -> list[tuple[str, int]]:
    """[(time zone, learners)] of the audience: when each would get a broadcast sent now (their quiet hours)."""
    where, args = audience_where(audience)
    return [
        (tz, n) for tz, n in conn.execute(f"SELECT l.timezone, COUNT(*) FROM learners l WHERE {where} GROUP BY 1", args)
    ]


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


def recent(conn: sqlite3.Connection, limit: int = 50, *, audiences: list[str] | None = None) -> list[sqlite3.Row]:
    """The newest broadcasts (only those to these audiences, when given: a teacher limited to classes)."""
    where = f"WHERE b.audience IN ({', '.join('?' for _ in audiences)})" if audiences is not None else ""
    return conn.execute(
        f"""SELECT b.*, a.email AS created_by_email FROM broadcasts b LEFT JOIN admins a ON a.id = b.created_by
           {where} ORDER BY b.scheduled_at DESC, b.id DESC LIMIT ?""",
        (*(audiences or []), limit),
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


def state_groups(conn: sqlite3.Connection, broadcast_id: int, now: datetime) -> list[sqlite3.Row]:
    """The broadcast's outbox rows as channels.states counts them (held for quiet hours until when, sent…)."""
    return messages.state_groups(conn, now.isoformat(), key_range=_key_range(broadcast_id))


def cancel(conn: sqlite3.Connection, broadcast_id: int, now: datetime) -> int | None:
    """Stop a broadcast while something of it can still be stopped: not yet fanned out, fanning out, or fanned out
    with rows not sent yet (held for quiet hours, waiting, due). None when nothing could be cancelled, else the
    number of unsent outbox rows cancelled (rows a sender has already claimed go out; call inside a transaction)."""
    row = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    if row is None or row[0] not in ("scheduled", "sending", "done"):
        return None
    lo, hi = _key_range(broadcast_id)
    cancelled = conn.execute(
        """UPDATE messages SET status = 'cancelled', error_message = 'broadcast cancelled', updated_at = ?,
                  error_code = NULLIF(error_code, ?)
           WHERE idempotency_key >= ? AND idempotency_key < ? AND direction = 'out'
             AND status IN ('queued', 'retry', 'waiting')""",
        (now.isoformat(), messages.HELD, lo, hi),
    ).rowcount
    if row[0] == "done" and not cancelled:
        return None  # every row is sent or settled already: nothing left to stop
    conn.execute("UPDATE broadcasts SET status = 'cancelled' WHERE id = ?", (broadcast_id,))
    return cancelled
