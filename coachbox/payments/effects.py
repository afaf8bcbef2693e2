"""The service side of the chat effects: write the payment in the turn's transaction, name the task for after it."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from coachbox.conversation.premium import CancelPlan, RequestPayment
from coachbox.payments import checkout
from coachbox.store import payments as store


def apply(
    conn: sqlite3.Connection, learner_id: int, effect: RequestPayment | CancelPlan, now: datetime, key: str
) -> list[tuple[str, tuple]]:
    """Returns (task name, args) pairs to enqueue after the commit; the rows written here are the truth, so a
    lost task only delays the work (payments_sweep pushes 'new' M-PESA payments within a minute)."""
    if isinstance(effect, CancelPlan):
        stripe_ids, _ = checkout.cancel(conn, learner_id, now)
        return [("payments.cancel_stripe", (stripe_ids,))] if stripe_ids else []
    if effect.method == "card":
        return [("payments.card_link", (learner_id, effect.plan, effect.currency, key))]
    phone = conn.execute("SELECT phone FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
    payment_id = store.create_payment(
        conn,
        learner_id=learner_id,
        plan=effect.plan,
        plan_snapshot_id=None,
        provider="mpesa",
        amount_minor=effect.amount_minor,
        currency=effect.currency,
        phone=phone,
        period_days=effect.period_days,
        now=now,
    )
    return [("payments.push", (payment_id,))]
