"""Payments a person must look at go to a teacher's inbox (store.handover, reason payment): once each."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from coachbox.core.plans import format_amount
from coachbox.store import handover as handovers
from coachbox.store import payments as store

ASKED_WITHIN = timedelta(days=7)  # TEACHER this soon after a failed payment is about that payment


def contested(conn: sqlite3.Connection, payment_id: int, reason: str, now: datetime) -> int | None:
    """A payment put in review (money taken after we said it failed, an amount or number that does not match, a
    plan removed meanwhile): its learner's teacher sees it. The learner did not ask, so the bot keeps answering them
    until a teacher pauses it. Keyed by payment and reason: a replayed callback adds nothing. None: no learner."""
    pay = store.payment(conn, payment_id)
    if pay is None or pay["learner_id"] is None:
        return None
    amount = format_amount(pay["amount_minor"], pay["currency"])
    return handovers.open_handover(
        conn,
        pay["learner_id"],
        "payment",
        now,
        detail=f"{pay['provider']} payment {payment_id} of {amount} put in review: {reason}",
        payment_id=payment_id,
        key=f"payment:{payment_id}:review:{reason}",
        bot_paused=False,
    )


def after_asked(conn: sqlite3.Connection, learner_id: int, now: datetime) -> int | None:
    """The learner asked for a teacher (TEACHER) soon after a payment failed: the handover says so, with the
    payment, so the teacher starts from it. Once per failed payment."""
    problem = store.recent_problem(conn, learner_id, now - ASKED_WITHIN)
    if problem is None:
        return None
    if problem["id"] is None:
        detail, key = (
            f"card subscription ({problem['result_desc']}) past due",
            f"payment:past_due:{learner_id}:{now.date()}",
        )
    else:
        amount = format_amount(problem["amount_minor"], problem["currency"])
        detail = f"M-PESA payment {problem['id']} of {amount} failed ({problem['result_desc'] or 'no reason'})"
        key = f"payment:{problem['id']}:failed"
    return handovers.open_handover(conn, learner_id, "payment", now, detail=detail, payment_id=problem["id"], key=key)
