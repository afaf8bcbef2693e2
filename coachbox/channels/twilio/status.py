"""Twilio status callbacks: statuses only move forward, ErrorCode is kept, 21610 opts the learner out."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from coachbox.channels.buttons import window_template_key
from coachbox.channels.twilio import errors
from coachbox.store import messages, transaction
from coachbox.store.messages import RANK, status_rank

# Callbacks arrive out of order: a row only moves to a higher RANK (store.messages, beside the SQL that applies it).
_KNOWN = set(RANK) | {"canceled", "receiving", "received", "partially_delivered"}


class BadStatus(ValueError):
    """A status callback without the fields every callback carries."""


@dataclass(frozen=True)
class StatusUpdate:
    sid: str
    status: str
    error_code: str | None = None
    message_id: int | None = None  # our outbox id, from the ?m= tag on the StatusCallback URL


def parse_status(form: Mapping[str, list[str]], tag: str | None) -> StatusUpdate:
    def first(name: str) -> str | None:
        values = form.get(name) or []
        return values[0] if values else None

    sid = first("MessageSid") or first("SmsSid")
    status = (first("MessageStatus") or first("SmsStatus") or "").lower()
    if not sid or not status:
        raise BadStatus("MessageSid and MessageStatus are required")
    code = first("ErrorCode") or None
    # Our own ?m=<outbox id>; anything else (not ours, or out of SQLite's integer range) is looked up by sid.
    message_id = int(tag) if tag and tag.isascii() and tag.isdigit() and int(tag) < 2**63 else None
    return StatusUpdate(sid=sid, status=status, error_code=code, message_id=message_id)


def is_receipt(update: StatusUpdate) -> bool:
    """A plain delivery receipt: a known status and no error code, so only the forward-only move to make."""
    return update.error_code is None and update.status in RANK


def _apply_receipt(conn: sqlite3.Connection, update: StatusUpdate, now: str) -> str:
    # Receipts dominate webhook traffic: one UPDATE (or two, by id then by sid), no read-then-write transaction.
    applied = messages.apply_receipt(conn, update.message_id, update.sid, update.status, now)
    if not applied and update.message_id is not None and update.status not in ("failed", "undelivered"):
        # Tagged as our row but under another sid: an earlier send whose answer was lost (a second copy).
        messages.record_send(conn, update.message_id, update.sid, now)
    return "updated" if applied else "stale"


def apply_receipts(conn: sqlite3.Connection, receipts: list[tuple[StatusUpdate, str]]) -> list[str]:
    """Many receipts ([(update, now)]) in one transaction: one commit for a whole burst of callbacks."""
    with transaction(conn):
        return [_apply_receipt(conn, update, now) for update, now in receipts]


def apply_status(
    conn: sqlite3.Connection,
    update: StatusUpdate,
    now: str,
    has_template: Callable[[str | None], bool] = lambda key: False,
) -> str:
    """Apply one callback; returns what happened: updated | stale | unknown | requeued | ignored."""
    if update.status not in _KNOWN:
        return "ignored"  # a status Twilio adds later: harmless to skip, never an error
    if is_receipt(update):
        return _apply_receipt(conn, update, now)
    with transaction(conn):
        row = messages.outbound_for_callback(conn, update.message_id, update.sid)
        if row is None:
            return "unknown"
        if row["provider_sid"] and row["provider_sid"] != update.sid:
            if update.message_id == row["id"] and update.status not in ("failed", "undelivered"):
                messages.record_send(conn, row["id"], update.sid, now)  # an earlier send the learner got too
            return "stale"  # about an earlier attempt of this row (e.g. the free-form try before a template)
        code = update.error_code
        if update.status in ("failed", "undelivered") and code == errors.WINDOW_CLOSED:
            if row["use_template"] and row["provider_sid"] is None:
                return "stale"  # the free-form attempt's late callback; the template is on its way
            if not row["use_template"] and has_template(window_template_key(row["template_key"], row["kind"])):
                messages.requeue_as_template(conn, row["id"], code, errors.describe(code), now)
                return "requeued"
        if RANK.get(update.status, 0) <= status_rank(row["status"]):
            return "stale"
        messages.record_status(conn, row["id"], update.status, update.sid, code, errors.describe(code) or None, now)
        if code == errors.UNSUBSCRIBED and row["learner_id"] is not None:
            conn.execute("UPDATE learners SET opted_out = 1, updated_at = ? WHERE id = ?", (now, row["learner_id"]))
        return "updated"
