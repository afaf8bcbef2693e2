"""Queries for the operations page: the outbox's stuck and failed rows, and retrying them."""

from __future__ import annotations

import sqlite3
from datetime import datetime

RETRYABLE = ("failed", "undelivered", "waiting")


def outbox_rows(conn: sqlite3.Connection, statuses: tuple[str, ...], limit: int = 100) -> list[sqlite3.Row]:
    marks = ",".join("?" * len(statuses))
    return conn.execute(
        f"""SELECT m.id, m.learner_id, m.body, m.kind, m.template_key, m.status, m.attempts, m.error_code, m.error_message,
                   m.created_at, m.next_attempt_at, l.name, l.profile_name, l.phone
            FROM messages m LEFT JOIN learners l ON l.id = m.learner_id
            WHERE m.direction = 'out' AND m.status IN ({marks}) ORDER BY m.id DESC LIMIT ?""",
        (*statuses, limit),
    ).fetchall()


def retry(conn: sqlite3.Connection, message_ids: list[int], now: datetime) -> int:
    """Queue failed/undelivered/waiting rows again through the outbox's own rule (a look-up before any resend)."""
    from coachbox.store.messages import retry_message

    return sum(retry_message(conn, message_id, now) for message_id in message_ids)
