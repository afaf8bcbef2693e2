"""A teacher closes a handover: the rows, and "the bot is back" to the learner in their language, in one go."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from coachbox.conversation.texts import Texts
from coachbox.store import handover as handovers
from coachbox.store import learners
from coachbox.store.messages import OutboxDraft, enqueue_outbound

ADMIN_TEMPLATE = "admin"  # the teacher's message template ([twilio.templates] admin): outside the 24-hour window


def close_and_notify(
    conn: sqlite3.Connection, texts: Texts, handover_id: int, now: datetime, by_admin_id: int | None
) -> int | None:
    """Close the handover and queue "the bot is back" (kind 'reply', in the learner's language) in the caller's
    transaction. Returns the outbox row's id; None when it was not open (nothing written: a double click) or its
    learner is erased or opted out (closed, nothing sent). Kick the sender after the commit."""
    handover = handovers.get_handover(conn, handover_id)
    if handover is None or not handovers.close_handover(conn, handover_id, now, by_admin_id):
        return None
    row = learners.learner(conn, handover.learner_id)
    if row is None or row["opted_out"]:
        return None
    first_name = (row["name"] or row["profile_name"] or "").split(" ")[0]
    body = texts.t(row["language"], "handover.bot_back", name=first_name)
    closed = [e.id for e in handovers.handover_events(conn, handover_id) if e.kind == "closed"]
    draft = OutboxDraft(
        body=body,
        kind="reply",
        idempotency_key=f"handover:{handover_id}:closed:{closed[-1] if closed else 0}",
        template_key=ADMIN_TEMPLATE,
        content_variables={"1": body},
    )
    return enqueue_outbound(
        conn, learner_id=handover.learner_id, channel=row["channel"], address=row["channel_key"], draft=draft, now=now
    )
