"""Queries for the inbound queue: messages acknowledged to the provider whose turn has not run yet (issue #15)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from coachbox.store.messages import inbound_key

if TYPE_CHECKING:
    from coachbox.channels.base import Inbound

MAX_ATTEMPTS = 5  # a message whose turn keeps failing stays for the operator instead of blocking its learner


@dataclass(frozen=True)
class Arrival:
    """A verified message to keep until its turn runs (turns.intake makes the payload from the Inbound)."""

    key: str  # messages.idempotency_key it will get: in:<channel>:<provider id>
    address: str
    payload: str
    received_at: str


def arrival(inbound: Inbound) -> Arrival:
    """What is kept of a message: every field of the parsed Inbound, as JSON (turns.intake.from_json reads it)."""
    data = {name: getattr(inbound, name) for name in inbound.__dataclass_fields__}
    data["received_at"] = inbound.received_at.isoformat()
    data["media"] = [[m.url, m.content_type, m.path] for m in inbound.media]
    payload = json.dumps(data, separators=(",", ":"))
    return Arrival(inbound_key(inbound), inbound.address, payload, inbound.received_at.isoformat())


def enqueue(conn: sqlite3.Connection, items: list[Arrival]) -> list[str]:
    """Store each message unless it was seen before; "queued" or "duplicate" for each. The caller commits."""
    results = []
    for item in items:
        if conn.execute("SELECT 1 FROM messages WHERE idempotency_key = ?", (item.key,)).fetchone():
            results.append("duplicate")
            continue
        cursor = conn.execute(
            "INSERT OR IGNORE INTO inbound_queue (idempotency_key, address, payload, received_at) VALUES (?, ?, ?, ?)",
            (item.key, item.address, item.payload, item.received_at),
        )
        results.append("queued" if cursor.rowcount else "duplicate")
    return results


def waiting_for(conn: sqlite3.Connection, address: str) -> bool:
    """Does this learner have a message waiting? Then a newer one must wait behind it, never overtake it."""
    return conn.execute("SELECT 1 FROM inbound_queue WHERE address = ? LIMIT 1", (address,)).fetchone() is not None


@dataclass(frozen=True)
class Queued:
    id: int
    address: str
    payload: str
    attempts: int


def claim(conn: sqlite3.Connection, worker: str, now: datetime, *, limit: int, lease: timedelta) -> list[Queued]:
    """Claim the waiting messages of the learners with the oldest ones (all of a learner's, so they stay in one
    worker and in order), skipping failed ones and learners whose earlier message another worker holds or waits
    to retry; a dead worker's stale claims are taken over."""
    stamp, until = now.isoformat(), (now + lease).isoformat()
    free = "(claimed_by IS NULL OR claimed_until < :now OR claimed_by = :worker)"
    # NOT free, spelt so that it names `claimed_by IS NOT NULL`: the planner then reads only the claimed rows through
    # migration 0032's partial index, not the whole queue on every claim.
    held = "(claimed_by IS NOT NULL AND claimed_until >= :now AND claimed_by != :worker)"
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            f"""UPDATE inbound_queue SET claimed_by = :worker, claimed_until = :until
                WHERE failed_at IS NULL AND {free}
                  AND address IN (SELECT address FROM inbound_queue WHERE failed_at IS NULL AND {free}
                                  ORDER BY id LIMIT :limit)
                  AND address NOT IN (SELECT address FROM inbound_queue WHERE failed_at IS NULL AND {held})
                RETURNING id, address, payload, attempts""",
            {"worker": worker, "until": until, "now": stamp, "limit": limit},
        ).fetchall()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return sorted((Queued(r[0], r[1], r[2], r[3]) for r in rows), key=lambda q: q.id)


def done(conn: sqlite3.Connection, queued_id: int) -> None:
    conn.execute("DELETE FROM inbound_queue WHERE id = ?", (queued_id,))


def done_key(conn: sqlite3.Connection, key: str) -> bool:
    """Inside every inbound turn's transaction: a kept message's turn and the end of its wait commit together.
    True when this message was kept (its turn runs now, from the queue)."""
    return conn.execute("DELETE FROM inbound_queue WHERE idempotency_key = ?", (key,)).rowcount > 0


def failed(conn: sqlite3.Connection, queued_id: int, error: str, now: datetime) -> bool:
    """Count a failed turn; retry it after a growing pause (2, 4, 8, 16 s: its learner's later messages wait
    behind it), or, after MAX_ATTEMPTS, keep it as failed for the operator. True when it has failed for good."""
    row = conn.execute("SELECT attempts FROM inbound_queue WHERE id = ?", (queued_id,)).fetchone()
    if row is None:
        return False
    attempts = row[0] + 1
    gave_up = attempts >= MAX_ATTEMPTS
    conn.execute(
        """UPDATE inbound_queue SET attempts = ?, claimed_by = ?, claimed_until = ?, last_error = ?, failed_at = ?
           WHERE id = ?""",
        (
            attempts,
            None if gave_up else "retry",
            None if gave_up else (now + timedelta(seconds=2**attempts)).isoformat(),
            error[:500],
            now.isoformat() if gave_up else None,
            queued_id,
        ),
    )
    return gave_up


@dataclass(frozen=True)
class Backlog:
    waiting: int
    oldest_at: str | None  # received_at of the oldest waiting message
    failed: int

    def oldest_seconds(self, now: datetime) -> float:
        """How late the oldest waiting message's reply already is."""
        if self.oldest_at is None:
            return 0.0
        return max(0.0, (now - datetime.fromisoformat(self.oldest_at)).total_seconds())


def backlog(conn: sqlite3.Connection) -> Backlog:
    row = conn.execute(
        """SELECT COUNT(*) FILTER (WHERE failed_at IS NULL), MIN(received_at) FILTER (WHERE failed_at IS NULL),
                  COUNT(*) FILTER (WHERE failed_at IS NOT NULL) FROM inbound_queue"""
    ).fetchone()
    return Backlog(row[0], row[1], row[2])
