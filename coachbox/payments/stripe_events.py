"""Verified Stripe events → subscriptions and payments: once per event id, and right whatever order they arrive in.

Stripe does not promise order (https://docs.stripe.com/webhooks#event-ordering). So: the paid period only ever
moves forward (max), a status is applied only when its event is not older than the last status applied, and
'ended' (customer.subscription.deleted) is final: a late invoice.paid records the money but reopens nothing.
Since API 2025-03-31 the period lives on subscription items and an invoice names its subscription under
parent.subscription_details; older payloads are read too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from coachbox.core.plans import Plan, format_amount
from coachbox.payments.subscriptions import (
    courses_column,
    local_day,
    notify,
    plan_definition,
)
from coachbox.store import payments as store
from coachbox.store import transaction

# Stripe subscription status → ours (https://docs.stripe.com/billing/subscriptions/overview#subscription-statuses).
STATUS = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "paused": "past_due",
    "canceled": "ended",
    "incomplete_expired": "ended",
    "incomplete": "past_due",
}


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _metadata(obj: Mapping) -> dict:
    for path in (("metadata",), ("parent", "subscription_details", "metadata"), ("subscription_details", "metadata")):
        found = _get(obj, *path)
        if isinstance(found, Mapping) and found.get("learner_id"):
            return dict(found)
    for line in _get(obj, "lines", "data") or []:
        found = _get(line, "metadata")
        if isinstance(found, Mapping) and found.get("learner_id"):
            return dict(found)
    return {}


def _subscription_id(obj: Mapping) -> str | None:
    if obj.get("object") == "subscription":
        return obj.get("id")
    found = obj.get("subscription") or _get(obj, "parent", "subscription_details", "subscription")
    return found.get("id") if isinstance(found, Mapping) else found


def _period_end(obj: Mapping) -> datetime | None:
    found: list[Any] = []
    if obj.get("object") == "subscription":
        found += [obj.get("current_period_end")] + [
            i.get("current_period_end") for i in _get(obj, "items", "data") or []
        ]
    else:
        found += [_get(line, "period", "end") for line in _get(obj, "lines", "data") or []]
    ends = [e for e in found if isinstance(e, int) and not isinstance(e, bool)]
    return _ts(max(ends)) if ends else None


# Outcomes that only a person can fix (a learner id we do not know, a plan removed from coachbox.toml, an object
# with no subscription or amount). They are answered 2xx so Stripe does not retry: its automatic retries (up to
# three days) cannot change our config, and a failing endpoint gets disabled. None of them can be a race with our
# own writes: the learner row exists before we create a Checkout Session, and learner and plan travel in the
# event's own metadata. So the event goes to review, and its id is NOT consumed: after the fix, "Resend" in the
# Stripe dashboard (or `stripe events resend evt_…`) applies it, and its review closes by itself.
NEEDS_REVIEW = frozenset({"unknown_learner", "unknown_plan", "no_subscription", "bad_amount", "unknown"})


def apply_event(
    conn: sqlite3.Connection, texts: Any, plans: Mapping[str, Plan], event: Mapping, payload: str, now: datetime
) -> str:
    """One verified event in one transaction; 'duplicate' when its id was applied before."""
    event_id = str(event["id"])
    with transaction(conn):
        if not store.record_event(conn, "stripe", event_id, str(event["type"]), payload, now, outcome="received"):
            if store.event_outcome(conn, "stripe", event_id) not in NEEDS_REVIEW:
                return "duplicate"
            redelivered = True  # kept for review last time: a resend after the fix applies it now
        else:
            redelivered = False
        handler = HANDLERS.get(event["type"])
        obj = _get(event, "data", "object") or {}
        outcome = (
            handler(_Ctx(conn, texts, plans, now, int(event.get("created") or 0), payload, event), obj)
            if handler
            else "ignored"
        )
        store.set_event_outcome(conn, "stripe", event_id, outcome)
        if redelivered and outcome not in NEEDS_REVIEW:
            store.resolve_reviews_for(
                conn,
                "stripe",
                str(obj.get("id")),
                NEEDS_REVIEW,
                now=now,
                resolution=f"applied when Stripe resent {event_id}: {outcome}",
            )
        return outcome


class _Ctx:
    def __init__(self, conn, texts, plans, now, created, payload, event) -> None:
        self.conn, self.texts, self.plans, self.now, self.created = conn, texts, plans, now, created
        self.payload, self.event = payload, event

    def review(self, reason: str, reference: str | None) -> str:
        store.record_review(self.conn, "stripe", reason, self.payload, self.now, reference=reference)
        return reason


def _row(ctx: _Ctx, obj: Mapping) -> tuple[sqlite3.Row | None, str | None]:
    """Our subscription row for this Stripe object, created from its metadata the first time it is seen."""
    sub_id = _subscription_id(obj)
    if not sub_id:
        return None, "no_subscription"
    row = store.subscription_by_ref(ctx.conn, "stripe", sub_id)
    if row is not None:
        return row, None
    meta = _metadata(obj)
    if obj.get("object") == "checkout.session" and obj.get("client_reference_id"):
        meta.setdefault("learner_id", obj["client_reference_id"])
    learner = str(meta.get("learner_id") or "")
    plan = ctx.plans.get(str(meta.get("plan") or ""))
    if not learner.isdigit() or store.learner_contact(ctx.conn, int(learner)) is None:
        return None, "unknown_learner"
    if plan is None:
        return None, "unknown_plan"
    snapshot = store.snapshot_plan(ctx.conn, plan.name, plan_definition(plan), ctx.now)
    # Created 'past_due' with no access: only a paid invoice (or an 'active' status) opens anything.
    sub = store.insert_subscription(
        ctx.conn,
        learner_id=int(learner),
        plan=plan.name,
        plan_snapshot_id=snapshot,
        provider="stripe",
        provider_ref=sub_id,
        courses=courses_column(plan),
        status="past_due",
        period_end=ctx.now,
        access_until=ctx.now,
        now=ctx.now,
    )
    return store.subscription(ctx.conn, sub), None


def _reload(ctx: _Ctx, subscription_id: int) -> sqlite3.Row:
    """The subscription row again after a write in this transaction (it cannot have gone)."""
    row = store.subscription(ctx.conn, subscription_id)
    if row is None:
        raise LookupError(f"subscription {subscription_id} vanished inside its own transaction")
    return row


def _set_status(ctx: _Ctx, row: sqlite3.Row, status: str, **more: Any) -> bool:
    """Apply a status unless the subscription has ended or a newer status event was already applied."""
    if row["status"] == "ended" or ctx.created < row["status_event_at"]:
        return False
    store.update_subscription(ctx.conn, row["id"], ctx.now, status=status, status_event_at=ctx.created, **more)
    return True


def _extend(ctx: _Ctx, row: sqlite3.Row, period_end: datetime | None) -> None:
    """The paid period only moves forward; an ended subscription is never reopened."""
    if period_end is None or row["status"] == "ended":
        return
    current = datetime.fromisoformat(row["current_period_end"])
    if period_end <= current:
        return
    grace = ctx.plans[row["plan"]].grace_days if row["plan"] in ctx.plans else 0
    store.update_subscription(
        ctx.conn,
        row["id"],
        ctx.now,
        current_period_end=period_end,
        access_until=max(datetime.fromisoformat(row["access_until"]), period_end + timedelta(days=grace)),
    )


def _checkout_completed(ctx: _Ctx, obj: Mapping) -> str:
    if obj.get("mode") != "subscription":
        return "ignored"
    row, problem = _row(ctx, obj)
    if row is None:
        return ctx.review(problem or "unknown", obj.get("id"))
    if obj.get("payment_status") in ("paid", "no_payment_required"):
        plan = ctx.plans.get(row["plan"])
        # Access opens now; invoice.paid (usually seconds later) brings the exact period end.
        _set_status(ctx, row, "active")
        if plan is not None:
            _extend(ctx, _reload(ctx, row["id"]), ctx.now + timedelta(days=plan.period_days))
    return "subscription_started"


def _invoice_paid(ctx: _Ctx, obj: Mapping) -> str:
    row, problem = _row(ctx, obj)
    if row is None:
        return ctx.review(problem or "unknown", obj.get("id"))
    amount = obj.get("amount_paid")
    if isinstance(amount, bool) or not isinstance(amount, int):
        return ctx.review("bad_amount", obj.get("id"))
    currency = str(obj.get("currency") or "").upper()
    plan = ctx.plans.get(row["plan"])
    payment_id = store.create_payment(
        ctx.conn,
        learner_id=row["learner_id"],
        plan=row["plan"],
        plan_snapshot_id=row["plan_snapshot_id"],
        provider="stripe",
        amount_minor=amount,
        currency=currency,
        now=ctx.now,
        status="paid",
        provider_ref=str(obj.get("id")),
        receipt=obj.get("number"),
        period_days=plan.period_days if plan else 0,
    )
    if payment_id is not None:
        store.link_subscription(ctx.conn, payment_id, row["id"])
    _set_status(ctx, row, "active")
    _extend(ctx, _reload(ctx, row["id"]), _period_end(obj))
    fresh = _reload(ctx, row["id"])
    if payment_id is not None and fresh["status"] != "ended":
        notify(
            ctx.conn,
            ctx.texts,
            row["learner_id"],
            "receipt",
            now=ctx.now,
            idempotency_key=f"payments:receipt:{payment_id}",
            amount=format_amount(amount, currency),
            plan=plan.title if plan else row["plan"],
            receipt=obj.get("number") or str(obj.get("id"))[-10:],
            date=local_day(datetime.fromisoformat(fresh["current_period_end"]), ctx.conn, row["learner_id"]),
        )
    return "paid" if fresh["status"] != "ended" else "paid_after_end"


def _invoice_failed(ctx: _Ctx, obj: Mapping) -> str:
    row, problem = _row(ctx, obj)
    if row is None:
        return ctx.review(problem or "unknown", obj.get("id"))
    if not _set_status(ctx, row, "past_due"):
        return "stale"
    notify(
        ctx.conn,
        ctx.texts,
        row["learner_id"],
        "card_failed",
        now=ctx.now,
        idempotency_key=f"payments:card-failed:{obj.get('id')}:{obj.get('attempt_count', 0)}",
        date=local_day(datetime.fromisoformat(row["access_until"]), ctx.conn, row["learner_id"]),
    )
    return "past_due"


def _subscription_updated(ctx: _Ctx, obj: Mapping) -> str:
    row, problem = _row(ctx, obj)
    if row is None:
        return ctx.review(problem or "unknown", obj.get("id"))
    status = STATUS.get(str(obj.get("status")), "past_due")
    if status == "ended":
        return _end(ctx, row)
    applied = _set_status(ctx, row, status, cancel_at_period_end=1 if obj.get("cancel_at_period_end") else 0)
    if status == "active":
        _extend(ctx, _reload(ctx, row["id"]), _period_end(obj))
    return status if applied else "stale"


def _subscription_deleted(ctx: _Ctx, obj: Mapping) -> str:
    row, problem = _row(ctx, obj)
    if row is None:
        return ctx.review(problem or "unknown", obj.get("id"))
    return _end(ctx, row)


def _end(ctx: _Ctx, row: sqlite3.Row) -> str:
    if row["status"] == "ended":
        return "already_ended"
    ended = _ts(ctx.created) if ctx.created else ctx.now
    store.update_subscription(
        ctx.conn,
        row["id"],
        ctx.now,
        status="ended",
        ended_at=ended,
        status_event_at=max(ctx.created, row["status_event_at"]),
        access_until=min(datetime.fromisoformat(row["access_until"]), ended),
    )
    notify(
        ctx.conn,
        ctx.texts,
        row["learner_id"],
        "ended",
        now=ctx.now,
        idempotency_key=f"payments:ended:{row['id']}",
        plan=row["plan"],
    )
    return "ended"


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "customer.subscription.updated": _subscription_updated,
    "customer.subscription.deleted": _subscription_deleted,
}
