"""Queries for the tutor: exchanges (question → answer), per-call usage, limits, and teachers' flags."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from coachbox.store import inserted_id

# Replies that did not use the tutor's allowance: refusals and limit notices do not count against the learner.
NOT_COUNTED = ("limit", "budget", "refusal")


@dataclass(frozen=True)
class Exchange:
    id: int
    learner_id: int
    question_key: str
    question: str
    language: str
    course_id: int | None
    status: str
    source: str | None
    answer: str | None
    lesson_ids: str
    message_id: int | None
    attempts: int
    flagged_at: str | None
    flag_note: str | None
    created_at: str
    answered_at: str | None


_COLUMNS = (
    "id, learner_id, question_key, question, language, course_id, status, source, answer, lesson_ids, "
    "message_id, attempts, flagged_at, flag_note, created_at, answered_at"
)


def _exchange(row: sqlite3.Row) -> Exchange:
    return Exchange(**dict(row))


def _exchange_or_none(row: sqlite3.Row | None) -> Exchange | None:
    return _exchange(row) if row is not None else None


def start_exchange(
    conn: sqlite3.Connection,
    *,
    learner_id: int,
    question_key: str,
    question: str,
    language: str,
    course_id: int | None,
    now: datetime,
) -> Exchange:
    """The exchange for this question, created once (a retried webhook or task finds the same row)."""
    conn.execute(
        """INSERT INTO tutor_exchanges (learner_id, question_key, question, language, course_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (question_key) DO NOTHING""",
        (learner_id, question_key, question, language, course_id, now.isoformat()),
    )
    return _exchange(
        conn.execute(f"SELECT {_COLUMNS} FROM tutor_exchanges WHERE question_key = ?", (question_key,)).fetchone()
    )


def get_exchange(conn: sqlite3.Connection, exchange_id: int) -> Exchange | None:
    return _exchange_or_none(
        conn.execute(f"SELECT {_COLUMNS} FROM tutor_exchanges WHERE id = ?", (exchange_id,)).fetchone()
    )


def count_attempt(conn: sqlite3.Connection, exchange_id: int) -> int:
    conn.execute("UPDATE tutor_exchanges SET attempts = attempts + 1 WHERE id = ?", (exchange_id,))
    return conn.execute("SELECT attempts FROM tutor_exchanges WHERE id = ?", (exchange_id,)).fetchone()[0]


def finish_exchange(
    conn: sqlite3.Connection, exchange_id: int, *, source: str, answer: str, lesson_ids: list[int], now: datetime
) -> bool:
    """pending → answered, once (compare-and-set): False when another attempt already answered it."""
    cursor = conn.execute(
        """UPDATE tutor_exchanges SET status = 'answered', source = ?, answer = ?, lesson_ids = ?, answered_at = ?
           WHERE id = ? AND status = 'pending'""",
        (source, answer, json.dumps(lesson_ids), now.isoformat(), exchange_id),
    )
    return cursor.rowcount == 1


def link_message(conn: sqlite3.Connection, exchange_id: int, message_id: int | None) -> None:
    conn.execute("UPDATE tutor_exchanges SET message_id = ? WHERE id = ?", (message_id, exchange_id))


def questions_since(conn: sqlite3.Connection, learner_id: int, since: datetime, *, excluding: int | None = None) -> int:
    """Questions that used the learner's allowance since `since` (their local midnight)."""
    placeholders = ", ".join("?" * len(NOT_COUNTED))
    return conn.execute(
        f"""SELECT COUNT(*) FROM tutor_exchanges WHERE learner_id = ? AND created_at >= ? AND id != ?
            AND (source IS NULL OR source NOT IN ({placeholders}))""",
        (learner_id, since.isoformat(), excluding or 0, *NOT_COUNTED),
    ).fetchone()[0]


def tokens_since(conn: sqlite3.Connection, since: datetime) -> int:
    return conn.execute(
        "SELECT COALESCE(SUM(tokens_in + tokens_out), 0) FROM tutor_usage WHERE created_at >= ?", (since.isoformat(),)
    ).fetchone()[0]


def reserve_tokens(
    conn: sqlite3.Connection,
    *,
    month: datetime,
    budget: int,
    tokens: int,
    learner_id: int | None,
    exchange_id: int | None,
    purpose: str,
    model: str,
    now: datetime,
    stale_before: datetime,
) -> int | None:
    """Reserve a call's maximum tokens against the monthly budget (call inside a write transaction, so the check
    and the reservation are one step for every process); None when the month's usage has reached the budget.
    Reservations whose call never settled (a killed worker) stop counting after stale_before."""
    conn.execute(
        """UPDATE tutor_usage SET outcome = 'abandoned', tokens_in = 0, tokens_out = 0
                    WHERE created_at >= ? AND created_at < ? AND outcome = 'reserved'""",
        (month.isoformat(), stale_before.isoformat()),
    )
    if budget > 0 and tokens_since(conn, month) >= budget:
        return None
    return record_usage(
        conn,
        learner_id=learner_id,
        exchange_id=exchange_id,
        purpose=purpose,
        model=model,
        tokens_in=tokens,
        tokens_out=0,
        latency_ms=0,
        cost=0.0,
        outcome="reserved",
        now=now,
    )


def settle_usage(
    conn: sqlite3.Connection,
    usage_id: int,
    *,
    model: str,
    tokens_in: int,
    tokens_out: int,
    latency_ms: int,
    cost: float,
    outcome: str,
) -> None:
    """Replace a reservation by what the call really used."""
    conn.execute(
        """UPDATE tutor_usage SET model = ?, tokens_in = ?, tokens_out = ?, latency_ms = ?, cost = ?,
                    outcome = ? WHERE id = ?""",
        (model, tokens_in, tokens_out, latency_ms, cost, outcome, usage_id),
    )


def record_usage(
    conn: sqlite3.Connection,
    *,
    learner_id: int | None,
    exchange_id: int | None,
    purpose: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    latency_ms: int,
    cost: float,
    outcome: str,
    now: datetime,
) -> int:
    return inserted_id(
        conn.execute(
            """INSERT INTO tutor_usage (learner_id, exchange_id, purpose, model, tokens_in, tokens_out, latency_ms,
                                        cost, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                learner_id,
                exchange_id,
                purpose,
                model,
                tokens_in,
                tokens_out,
                latency_ms,
                cost,
                outcome,
                now.isoformat(),
            ),
        )
    )


def usage_summary(conn: sqlite3.Connection, since: datetime) -> dict:
    """For the admin page and /metrics: calls, tokens, cost and latency since a time."""
    row = conn.execute(
        """SELECT COUNT(*) AS calls, COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out,
                  COALESCE(SUM(cost), 0) AS cost, COALESCE(AVG(latency_ms), 0) AS avg_latency_ms,
                  COUNT(*) FILTER (WHERE outcome != 'ok') AS failures
           FROM tutor_usage WHERE created_at >= ?""",
        (since.isoformat(),),
    ).fetchone()
    return dict(row)


def exchange_for_message(conn: sqlite3.Connection, message_id: int) -> Exchange | None:
    """The tutor exchange behind an outbound message (the transcript marks it as AI and offers 'flag')."""
    return _exchange_or_none(
        conn.execute(f"SELECT {_COLUMNS} FROM tutor_exchanges WHERE message_id = ?", (message_id,)).fetchone()
    )


def exchanges_for_learner(conn: sqlite3.Connection, learner_id: int, *, limit: int = 100) -> list[Exchange]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM tutor_exchanges WHERE learner_id = ? ORDER BY id DESC LIMIT ?", (learner_id, limit)
    )
    return [_exchange(r) for r in rows]


def flagged_exchanges(conn: sqlite3.Connection, *, limit: int = 100) -> list[Exchange]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM tutor_exchanges WHERE flagged_at IS NOT NULL ORDER BY flagged_at DESC LIMIT ?",
        (limit,),
    )
    return [_exchange(r) for r in rows]


def flag_answer(conn: sqlite3.Connection, exchange_id: int, *, admin_id: int | None, note: str, now: datetime) -> bool:
    """A teacher marks a tutor answer as bad (audited); False when the exchange does not exist."""
    cursor = conn.execute(
        "UPDATE tutor_exchanges SET flagged_at = ?, flagged_by = ?, flag_note = ? WHERE id = ?",
        (now.isoformat(), admin_id, note or None, exchange_id),
    )
    if cursor.rowcount != 1:
        return False
    conn.execute(
        "INSERT INTO audit_log (admin_id, action, target, detail, created_at) VALUES (?, 'tutor.flag', ?, ?, ?)",
        (admin_id, f"tutor_exchange:{exchange_id}", json.dumps({"note": note}), now.isoformat()),
    )
    return True


def unflag_answer(conn: sqlite3.Connection, exchange_id: int) -> bool:
    cursor = conn.execute(
        "UPDATE tutor_exchanges SET flagged_at = NULL, flagged_by = NULL, flag_note = NULL WHERE id = ?", (exchange_id,)
    )
    return cursor.rowcount == 1


def stale_pending(
    conn: sqlite3.Connection, *, fresh_before: datetime, retried_before: datetime, limit: int = 50
) -> list[Exchange]:
    """Pending questions whose task seems lost: never tried and older than fresh_before, or tried (deferred)
    and older than retried_before. Huey may drop a task; the row is the truth."""
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM tutor_exchanges WHERE status = 'pending'
            AND ((attempts = 0 AND created_at < ?) OR (attempts > 0 AND created_at < ?)) ORDER BY id LIMIT ?""",
        (fresh_before.isoformat(), retried_before.isoformat(), limit),
    )
    return [_exchange(r) for r in rows]
