"""Queries for the messages table: inbound rows (de-duplicated) and the outbox."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from coachbox.content.markup import split_body

if TYPE_CHECKING:
    from coachbox.channels.base import Inbound  # annotations only: store never builds one


@dataclass(frozen=True)
class OutboxDraft:
    """A message to a learner, as a turn or a job decides it (before it is a row)."""

    body: str
    kind: str = "reply"
    idempotency_key: str | None = None  # deterministic for proactive messages, e.g. "lesson:42:2026-03-02:0"
    media: tuple[str, ...] = ()  # paths under data/ (media/…, certificates/…); signed into URLs at send time
    template_key: str | None = None  # [twilio.templates] key to use outside the 24-hour window
    content_variables: dict | None = None


def inbound_key(inbound: Inbound) -> str:
    return f"in:{inbound.channel}:{inbound.provider_sid}"


def is_duplicate_inbound(conn: sqlite3.Connection, inbound: Inbound) -> bool:
    row = conn.execute("SELECT 1 FROM messages WHERE idempotency_key = ?", (inbound_key(inbound),)).fetchone()
    return row is not None


def record_inbound(conn: sqlite3.Connection, inbound: Inbound, learner_id: int | None) -> int | None:
    """Insert an inbound row; None when this provider message id was already recorded (a webhook retry)."""
    media = [{"url": m.url, "content_type": m.content_type, "path": m.path} for m in inbound.media]
    now = inbound.received_at.isoformat()
    cursor = conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, idempotency_key,
                                 provider_sid, status, created_at, updated_at)
           VALUES (?, 'in', ?, ?, ?, ?, 'inbound', ?, ?, 'received', ?, ?)
           ON CONFLICT (idempotency_key) DO NOTHING""",
        (
            learner_id,
            inbound.channel,
            inbound.address,
            inbound.body,
            json.dumps(media),
            inbound_key(inbound),
            inbound.provider_sid,
            now,
            now,
        ),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def enqueue_outbound(
    conn: sqlite3.Connection,
    *,
    learner_id: int,
    channel: str,
    address: str,
    draft: OutboxDraft,
    now: datetime,
    sequence: int = 0,
    status: str = "queued",
) -> int | None:
    """Write one outbox row (call inside the turn's transaction). None when its idempotency key exists.

    A body over Twilio's 1,600 characters becomes several rows in order (the sender keeps a learner's rows
    in id order); the first carries media and template, the others are '<kind>.continued' parts. Returns
    the first row's id.
    """
    stamp = now.isoformat()
    first_id = None
    for part_no, body in enumerate(split_body(draft.body)):
        first = part_no == 0
        key = draft.idempotency_key if first or draft.idempotency_key is None else f"{draft.idempotency_key}#{part_no}"
        cursor = conn.execute(
            """INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, template_key,
                                     content_variables, idempotency_key, status, next_attempt_at, sequence,
                                     created_at, updated_at)
               VALUES (?, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (idempotency_key) DO NOTHING""",
            (
                learner_id,
                channel,
                address,
                body,
                json.dumps(list(draft.media) if first else []),
                draft.kind,
                draft.template_key if first else f"{draft.kind}.continued",
                json.dumps(draft.content_variables) if first and draft.content_variables is not None else None,
                key,
                status,
                stamp,
                sequence,
                stamp,
                stamp,
            ),
        )
        if first:
            if cursor.rowcount != 1:
                return None
            first_id = cursor.lastrowid
    return first_id


def transcript(conn: sqlite3.Connection, learner_id: int, *, after_id: int = 0, limit: int = 200) -> list[sqlite3.Row]:
    """A learner's messages in order (admin transcript, terminal chat, simulator)."""
    return conn.execute(
        "SELECT * FROM messages WHERE learner_id = ? AND id > ? ORDER BY id LIMIT ?",
        (learner_id, after_id, limit),
    ).fetchall()


RETRYABLE = ("failed", "undelivered", "waiting")


def retry_message(conn: sqlite3.Connection, message_id: int, now: datetime) -> bool:
    """Queue a failed, undelivered or waiting row again (an admin's retry); False when it is none of those.

    The look-up-before-resend rule still holds: a row whose last attempt may have reached Twilio (no sid, an
    unsure error) keeps its attempts and error code, so the sender looks it up at Twilio first. A row Twilio took
    and then reported failed (it has a sid) starts afresh: the sid is cleared, or the sender could never claim it
    again. The sender re-applies the 24-hour rule, opt-outs and quiet hours; the retry horizon still counts from
    created_at, so a failing retry of an old row is recorded after one more attempt.
    """
    stamp = now.isoformat()
    cursor = conn.execute(
        f"""UPDATE messages SET status = 'queued', next_attempt_at = :now, updated_at = :now,
                  attempts = CASE WHEN provider_sid IS NULL THEN attempts ELSE 0 END,
                  error_code = CASE WHEN provider_sid IS NULL THEN error_code ELSE NULL END,
                  error_message = NULL, provider_sid = NULL, sent_at = NULL, delivered_at = NULL, read_at = NULL
           WHERE id = :id AND direction = 'out' AND status IN {RETRYABLE}""",
        {"now": stamp, "id": message_id},
    )
    return cursor.rowcount == 1
