"""Twilio status callbacks: statuses only move forward, ErrorCode is kept, 21610 opts the learner out."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from coachbox.channels.buttons import window_template_key
from coachbox.channels.twilio import errors
from coachbox.store import transaction

# Callbacks arrive out of order (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks):
# a row only moves to a higher rank, so "read" never becomes "delivered" and "delivered" never "sent".
RANK = {
    "queued": 1,
    "accepted": 1,
    "scheduled": 1,
    "sending": 2,
    "sent": 3,
    "failed": 4,
    "undelivered": 4,
    "delivered": 5,
    "read": 6,
}
# Our own states before Twilio has the message (ours, not Twilio's, hence rank 0).
_UNSENT = {"queued", "retry", "sending", "waiting"}
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


def _rank(status: str) -> int:
    return 0 if status in _UNSENT else RANK.get(status, 0)


# The forward-only rule in SQL, for the one-statement path below: the row's rank, as _rank() computes it.
_ROW_RANK_SQL = (
    "CASE WHEN status IN ('queued', 'retry', 'sending', 'waiting') THEN 0 "
    + " ".join(f"WHEN status = '{name}' THEN {rank}" for name, rank in RANK.items())
    + " ELSE 0 END"
)
_FAST_UPDATE = f"""UPDATE messages SET status = :status, provider_sid = COALESCE(provider_sid, :sid),
                          sent_at = COALESCE(sent_at, :now),
                          delivered_at = CASE WHEN :status IN ('delivered', 'read') THEN COALESCE(delivered_at, :now)
                                              ELSE delivered_at END,
                          read_at = CASE WHEN :status = 'read' THEN COALESCE(read_at, :now) ELSE read_at END,
                          updated_at = :now
                   WHERE {{where}} AND direction = 'out' AND (provider_sid IS NULL OR provider_sid = :sid)
                     AND {_ROW_RANK_SQL} < :rank"""
_FAST_BY_ID = _FAST_UPDATE.format(where="id = :id")
_FAST_BY_SID = _FAST_UPDATE.format(where="provider_sid = :sid")


def is_receipt(update: StatusUpdate) -> bool:
    """A plain delivery receipt: a known status and no error code, so only the forward-only move to make."""
    return update.error_code is None and update.status in RANK


def _apply_receipt(conn: sqlite3.Connection, update: StatusUpdate, now: str) -> str:
    # Receipts dominate webhook traffic (three or so per message): one UPDATE that applies the forward-only rule
    # itself, instead of a read-then-write transaction. A row it does not touch is stale or not ours.
    params = {
        "status": update.status,
        "sid": update.sid,
        "now": now,
        "rank": RANK[update.status],
        "id": update.message_id,
    }
    if update.message_id is not None and conn.execute(_FAST_BY_ID, params).rowcount:
        return "updated"
    # No tag, or the tag names a row whose sid differs (an earlier attempt's callback): by the sid then.
    return "updated" if conn.execute(_FAST_BY_SID, params).rowcount else "stale"


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
        row = None
        if update.message_id is not None:
            row = conn.execute(
                "SELECT id, learner_id, status, provider_sid, use_template, template_key, kind FROM messages "
                "WHERE id = ? AND direction = 'out'",
                (update.message_id,),
            ).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT id, learner_id, status, provider_sid, use_template, template_key, kind FROM messages "
                "WHERE provider_sid = ? AND direction = 'out'",
                (update.sid,),
            ).fetchone()
        if row is None:
            return "unknown"
        if row["provider_sid"] and row["provider_sid"] != update.sid:
            return "stale"  # about an earlier attempt of this row (e.g. the free-form try before a template)
        code = update.error_code
        if update.status in ("failed", "undelivered") and code == errors.WINDOW_CLOSED:
            if row["use_template"] and row["provider_sid"] is None:
                return "stale"  # the free-form attempt's late callback; the template is on its way
            if not row["use_template"] and has_template(window_template_key(row["template_key"], row["kind"])):
                conn.execute(
                    """UPDATE messages SET status = 'queued', use_template = 1, provider_sid = NULL, error_code = ?,
                              error_message = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?""",
                    (code, errors.describe(code), now, now, row["id"]),
                )
                return "requeued"
        if RANK.get(update.status, 0) <= _rank(row["status"]):
            return "stale"
        conn.execute(
            """UPDATE messages SET status = ?, provider_sid = COALESCE(provider_sid, ?),
                      error_code = COALESCE(?, error_code), error_message = COALESCE(?, error_message),
                      sent_at = COALESCE(sent_at, ?),
                      delivered_at = CASE WHEN ? IN ('delivered', 'read') THEN COALESCE(delivered_at, ?) ELSE delivered_at END,
                      read_at = CASE WHEN ? = 'read' THEN COALESCE(read_at, ?) ELSE read_at END,
                      updated_at = ?
               WHERE id = ?""",
            (
                update.status,
                update.sid,
                code,
                errors.describe(code) or None,
                now,
                update.status,
                now,
                update.status,
                now,
                now,
                row["id"],
            ),
        )
        if code == errors.UNSUBSCRIBED and row["learner_id"] is not None:
            conn.execute("UPDATE learners SET opted_out = 1, updated_at = ? WHERE id = ?", (now, row["learner_id"]))
        return "updated"
