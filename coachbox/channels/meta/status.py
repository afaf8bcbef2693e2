"""Meta status webhooks: statuses only move forward (matched by wamid), errors are kept, pricing is recorded."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from coachbox.channels.buttons import window_template_key
from coachbox.channels.meta import errors
from coachbox.channels.meta.webhook import MetaStatus
from coachbox.store import messages, transaction
from coachbox.store.messages import RANK, status_rank

FAILED = ("failed", "undelivered")


def _apply_one(
    conn: sqlite3.Connection, update: MetaStatus, now: str, has_template: Callable[[str | None], bool]
) -> str:
    if update.status not in RANK:
        return "ignored"  # deleted, warning, or a status Meta adds later: harmless to skip
    result = _apply_state(conn, update, now, has_template)
    if any(
        value is not None
        for value in (update.pricing_category, update.pricing_billable, update.pricing_model, update.conversation_type)
    ):
        messages.record_pricing(
            conn,
            update.message_id,
            update.wamid,
            category=update.pricing_category,
            billable=update.pricing_billable,
            model=update.pricing_model,
            pricing_type=update.pricing_type,
            conversation_type=update.conversation_type,
        )
    return result


def _apply_state(
    conn: sqlite3.Connection, update: MetaStatus, now: str, has_template: Callable[[str | None], bool]
) -> str:
    if update.error_code is None and update.status not in FAILED:
        if messages.apply_receipt(conn, update.message_id, update.wamid, update.status, now):
            return "updated"
        if update.message_id is not None and not messages.sid_is_recorded(conn, update.wamid):
            # Tagged as our row (biz_opaque_callback_data) under another wamid: a send whose answer was lost,
            # that went out anyway: a second copy the learner got. Recorded, so the admin shows it.
            if messages.record_send(conn, update.message_id, update.wamid, now):
                return "updated"
        return "stale"
    row = messages.outbound_for_callback(conn, update.message_id, update.wamid)
    if row is None:
        return "unknown"
    if row["provider_sid"] and row["provider_sid"] != update.wamid:
        return "stale"  # about an earlier attempt of this row (the free-form try before a template)
    code = update.error_code
    if code == errors.WINDOW_CLOSED:
        if row["use_template"] and row["provider_sid"] is None:
            return "stale"
        if not row["use_template"] and has_template(window_template_key(row["template_key"], row["kind"])):
            messages.requeue_as_template(conn, row["id"], code, errors.describe(code), now)
            return "requeued"
    if RANK.get(update.status, 0) <= status_rank(row["status"]):
        return "stale"
    reason = errors.describe(code) or update.error_title
    messages.record_status(conn, row["id"], update.status, update.wamid, code, reason or None, now)
    return "updated"


def apply_statuses(
    conn: sqlite3.Connection,
    updates: list[MetaStatus],
    now: str,
    has_template: Callable[[str | None], bool] = lambda key: False,
) -> list[str]:
    """Every status of one webhook POST in one transaction; one result each (updated | stale | unknown |
    requeued | ignored)."""
    with transaction(conn):
        return [_apply_one(conn, update, now, has_template) for update in updates]
