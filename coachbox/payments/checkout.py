"""Starting and stopping payments: a payment row in the chat turn, then the STK push or card link after the commit."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timedelta

from coachbox.core.plans import format_amount
from coachbox.core.services import Services
from coachbox.payments.errors import ProviderError
from coachbox.payments.runtime import Payments, payments
from coachbox.payments.subscriptions import notify, plan_definition
from coachbox.store import payments as store
from coachbox.store import transaction

log = logging.getLogger("coachbox.payments")

PUSH_LEASE = timedelta(minutes=1)  # a push that crashed mid-way is retried after this
PUSH_GIVE_UP = timedelta(minutes=10)  # Daraja down this long: tell the learner rather than prompt much later


def request_mpesa(
    conn: sqlite3.Connection, p: Payments, *, learner_id: int, plan_name: str, phone: str, now: datetime
) -> int:
    """A 'new' M-PESA payment for one period of the plan (inside the chat turn's transaction)."""
    plan = p.plans[plan_name]
    amount = plan.price("KES")
    if amount is None:
        raise ValueError(f"plans.{plan_name} has no KES price")
    snapshot = store.snapshot_plan(conn, plan.name, plan_definition(plan), now)
    payment_id = store.create_payment(
        conn,
        learner_id=learner_id,
        plan=plan.name,
        plan_snapshot_id=snapshot,
        provider="mpesa",
        amount_minor=amount,
        currency="KES",
        phone=phone,
        period_days=plan.period_days,
        now=now,
    )
    if payment_id is None:  # only a replayed provider_ref is skipped, and a new request has none yet
        raise RuntimeError("the M-PESA payment was not recorded")
    return payment_id


async def push(services: Services, payment_id: int) -> str:
    """Send the STK push for a 'new' payment; 'pending' once Daraja accepted it."""
    p, now = payments(services), services.clock.now()
    if p.daraja is None:
        return "mpesa_off"
    claimed = await services.db.run(_claim, payment_id, now)
    if claimed is None:
        return "skipped"
    try:
        accepted = await p.daraja.stk_push(
            phone=claimed["phone"],
            amount_minor=claimed["amount_minor"],
            reference=claimed["plan"],
            description="Coachbox plan",
            now=now,
        )
    except ProviderError as exc:
        log.warning("stk push failed", extra={"payment_id": payment_id, "error": str(exc), "permanent": exc.permanent})
        give_up = exc.permanent or now - datetime.fromisoformat(claimed["created_at"]) >= PUSH_GIVE_UP
        if give_up:
            await services.db.run(_push_failed, p, claimed, str(exc), now)
            return "failed"
        return "retry"
    query_at = now + timedelta(minutes=services.settings.mpesa.query_after_minutes)
    await services.db.run(_pending, p, claimed, accepted, query_at, now)
    return "pending"


def _claim(conn: sqlite3.Connection, payment_id: int, now: datetime) -> sqlite3.Row | None:
    with transaction(conn):
        if not store.claim_push(conn, payment_id, now + PUSH_LEASE, now):
            return None
        return store.payment(conn, payment_id)


def _pending(conn, p: Payments, row, accepted, query_at: datetime, now: datetime) -> None:
    with transaction(conn):
        if store.mark_pending(
            conn,
            row["id"],
            checkout_request_id=accepted.checkout_request_id,
            merchant_request_id=accepted.merchant_request_id,
            next_query_at=query_at,
            now=now,
        ):
            notify(
                conn,
                p.texts,
                row["learner_id"],
                "mpesa_sent",
                now=now,
                idempotency_key=f"payments:sent:{row['id']}",
                amount=format_amount(row["amount_minor"], row["currency"]),
                phone=row["phone"],
            )


def _push_failed(conn, p: Payments, row, reason: str, now: datetime) -> None:
    with transaction(conn):
        if store.settle(conn, row["id"], "failed", now=now, result_code="push", result_desc=reason):
            notify(
                conn,
                p.texts,
                row["learner_id"],
                "mpesa_unavailable",
                now=now,
                idempotency_key=f"payments:unpaid:{row['id']}",
            )


async def card_link(services: Services, learner_id: int, plan_name: str, currency: str | None, request_key: str) -> str:
    """Create a Stripe Checkout Session and send its link to the learner."""
    p, now = payments(services), services.clock.now()
    plan = p.plans.get(plan_name)
    if p.stripe is None or plan is None:
        return "card_off"
    contact = await services.db.run(store.learner_contact, learner_id)
    language = (contact["language"] if contact is not None else None) or services.settings.org.default_language
    try:
        # The stripe client is synchronous: keep it off the event loop.
        link = await asyncio.to_thread(
            p.stripe.create_link,
            learner_id=learner_id,
            plan=plan,
            currency=currency,
            request_key=f"coachbox-checkout-{request_key}",
            language=language,
        )
    except ProviderError as exc:
        log.warning("stripe checkout failed", extra={"learner_id": learner_id, "error": str(exc)})
        if not exc.permanent:
            raise
        await services.db.run(_notify, p, learner_id, "card_unavailable", f"payments:card:{request_key}", now, {})
        return "failed"
    amount = plan.price(link.currency)
    if amount is None:  # load_plans refuses a stripe_price currency that has no price
        raise ValueError(f"plans.{plan.name} has no {link.currency} price")
    await services.db.run(
        _notify,
        p,
        learner_id,
        "card_link",
        f"payments:card:{request_key}",
        now,
        {"url": link.url, "amount": format_amount(amount, link.currency), "plan": plan.title, "days": plan.period_days},
    )
    return link.session_id


def _notify(conn, p: Payments, learner_id: int, key: str, idempotency_key: str, now: datetime, values: dict) -> None:
    with transaction(conn):
        notify(conn, p.texts, learner_id, key, idempotency_key=idempotency_key, now=now, **values)


def cancel(conn: sqlite3.Connection, learner_id: int, now: datetime) -> tuple[list[str], list[sqlite3.Row]]:
    """CANCEL PLAN: no renewal. Prepaid plans just stop being reminded; Stripe ones are set to cancel at the period
    end (the caller tells Stripe: returns those ids). Access lasts until the paid period ends, either way."""
    stripe_ids = []
    rows = store.live_subscriptions(conn, learner_id, now)
    for row in rows:
        if row["provider"] == "stripe":
            stripe_ids.append(row["provider_ref"])
            store.update_subscription(conn, row["id"], now, cancel_at_period_end=1)
        elif row["status"] == "active":
            store.update_subscription(conn, row["id"], now, status="cancelled")
    return stripe_ids, rows


async def cancel_at_stripe(services: Services, subscription_ids: list[str]) -> None:
    p = payments(services)
    if p.stripe is None:
        return
    for sub_id in subscription_ids:
        await asyncio.to_thread(p.stripe.cancel_at_period_end, sub_id)
