"""Subscriptions: prepaid periods (M-PESA, manual grants), live access for a learner, reminders and expiry."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from coachbox.core.plans import ALL_PREMIUM, Plan, plans_for
from coachbox.learning.access import Access, Entitlement
from coachbox.store import payments as store
from coachbox.store import transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound

REMINDER_DAYS = (3, 1)  # days before the paid period ends


def plan_definition(plan: Plan) -> dict:
    return {
        "title": plan.title,
        "prices": dict(plan.prices),
        "period_days": plan.period_days,
        "courses": ALL_PREMIUM if plan.courses is None else sorted(plan.courses),
        "free_lessons": plan.free_lessons,
        "grace_days": plan.grace_days,
        "stripe_prices": dict(plan.stripe_prices),
    }


def courses_column(plan: Plan) -> str:
    return ALL_PREMIUM if plan.courses is None else json.dumps(sorted(plan.courses))


def _courses(value: str) -> frozenset[str] | None:
    return None if value == ALL_PREMIUM else frozenset(json.loads(value))


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- what the engine is handed -------------------------------------------------------------------


# Cached per process: every turn asks again for the same few numbers, and phonenumbers parsing is ~50 µs.
@functools.lru_cache(maxsize=8192)
def phone_region(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None)) or None
    except phonenumbers.NumberParseException:
        return None


def payment_methods(settings: Any, region: str | None, plans: Mapping[str, Plan]) -> tuple[str, ...]:
    """M-PESA for numbers from [mpesa] countries when Daraja is configured and a plan has a KES price; card when
    Stripe is configured and a plan has a Stripe price."""
    methods = []
    countries = {c.strip().upper() for c in settings.mpesa.countries.split(",") if c.strip()}
    if settings.mpesa.consumer_key and region in countries and any(p.price("KES") for p in plans.values()):
        methods.append("mpesa")
    if settings.stripe.secret_key and any(p.stripe_prices for p in plans.values()):
        methods.append("card")
    return tuple(methods)


def load_access(
    conn: sqlite3.Connection,
    settings: Any,
    plans: Mapping[str, Plan],
    learner_id: int,
    phone: str | None,
    now: datetime,
) -> Access:
    """The Access record for one learner at `now` (one indexed query)."""
    live = tuple(
        Entitlement(row["plan"], _courses(row["courses"]), row["access_until"], row["current_period_end"])
        for row in store.live_subscriptions(conn, learner_id, now)
    )
    region = phone_region(phone)
    return Access(live, tuple(plans.values()), region, payment_methods(settings, region, plans))


def with_access(conn: sqlite3.Connection, settings: Any, learner: Any, now: datetime) -> Any:
    """The engine's Learner with its Access filled in (the conversation service calls this every turn)."""
    if learner is None:
        return None
    return learner.evolve(access=load_access(conn, settings, plans_for(settings), learner.id, learner.phone, now))


# -- granting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    subscription_id: int
    period_end: datetime
    access_until: datetime


def grant_prepaid(
    conn: sqlite3.Connection,
    *,
    learner_id: int,
    plan: Plan,
    provider: str,
    now: datetime,
    days: int | None = None,
    snapshot_id: int | None = None,
) -> Grant:
    """Add one paid period (or `days`) to the learner's prepaid subscription: from its end while it is still
    running, from now otherwise. Call inside the payment's transaction."""
    days = plan.period_days if days is None else days
    if snapshot_id is None:
        snapshot_id = store.snapshot_plan(conn, plan.name, plan_definition(plan), now)
    existing = store.prepaid_subscription(conn, learner_id, plan.name)
    start = now
    if existing is not None and _dt(existing["access_until"]) > now:
        start = max(_dt(existing["current_period_end"]), now)
    period_end = start + timedelta(days=days)
    access_until = period_end + timedelta(days=plan.grace_days)
    if existing is None:
        sub_id = store.insert_subscription(
            conn,
            learner_id=learner_id,
            plan=plan.name,
            plan_snapshot_id=snapshot_id,
            provider=provider,
            provider_ref=None,
            courses=courses_column(plan),
            status="active",
            period_end=period_end,
            access_until=access_until,
            now=now,
        )
    else:
        sub_id = existing["id"]
        store.update_subscription(
            conn,
            sub_id,
            now,
            provider=provider,
            plan_snapshot_id=snapshot_id,
            courses=courses_column(plan),
            status="active",
            current_period_end=period_end,
            access_until=access_until,
            cancel_at_period_end=0,
        )
    return Grant(sub_id, period_end, access_until)


# -- telling the learner -------------------------------------------------------------------------


def notify(
    conn: sqlite3.Connection,
    texts: Any,
    learner_id: int | None,
    key: str,
    *,
    idempotency_key: str,
    now: datetime,
    proactive: bool = False,
    **values: Any,
) -> int | None:
    """One [payments] text to the learner through the outbox (deterministic key: a retry sends nothing twice).
    proactive: the box sends it on its own (a renewal reminder), so quiet hours hold it; otherwise it answers what
    the learner did (an M-PESA prompt, a receipt) and goes at once."""
    if learner_id is None:
        return None
    row = store.learner_contact(conn, learner_id)
    if row is None:
        return None
    body = texts.t(row["language"], f"payments.{key}", **values)
    # Receipts and reminders can fall outside WhatsApp's 24-hour window: the [twilio.templates] "payment"
    # template then carries the same text as its one variable.
    draft = OutboxDraft(
        body=body,
        kind="payment",
        idempotency_key=idempotency_key,
        template_key="payment",
        content_variables={"1": body},
        proactive=proactive,
    )
    return enqueue_outbound(
        conn, learner_id=learner_id, channel=row["channel"], address=row["channel_key"], draft=draft, now=now
    )


def local_day(when: datetime, conn: sqlite3.Connection, learner_id: int) -> str:
    """A date as the learner reads it (their time zone): '2026-04-01'."""

    row = conn.execute("SELECT timezone FROM learners WHERE id = ?", (learner_id,)).fetchone()
    try:
        zone = ZoneInfo(row["timezone"]) if row else None
    except Exception:  # noqa: BLE001 - a bad zone name shows UTC rather than failing a payment
        zone = None
    return (when.astimezone(zone) if zone else when).strftime("%Y-%m-%d")


# -- the daily sweep -----------------------------------------------------------------------------


def remind_and_expire(conn: sqlite3.Connection, texts: Any, now: datetime) -> dict[str, int]:
    """Reminders 3 and 1 days before a non-renewing period ends, and 'ended' for lapsed subscriptions.
    Idempotent: reminder keys are per subscription, period end and day, so running it every hour is safe."""

    counts = {"reminders": 0, "ended": 0}
    with transaction(conn):
        for days in REMINDER_DAYS:
            # A window of one day ending `days` days from now: each period end falls in it exactly once a day.
            for row in store.ending_between(conn, now + timedelta(days=days - 1), now + timedelta(days=days)):
                end = _dt(row["current_period_end"])
                sent = notify(
                    conn,
                    texts,
                    row["learner_id"],
                    f"reminder_{days}",
                    now=now,
                    proactive=True,
                    idempotency_key=f"payments:reminder:{row['id']}:{row['current_period_end']}:{days}",
                    plan=row["plan"],
                    date=local_day(end, conn, row["learner_id"]),
                    days=days,
                )
                counts["reminders"] += 1 if sent else 0
        for row in store.lapsed(conn, now):
            store.update_subscription(conn, row["id"], now, status="ended", ended_at=now)
            notify(
                conn,
                texts,
                row["learner_id"],
                "expired",
                now=now,
                proactive=True,
                idempotency_key=f"payments:expired:{row['id']}:{row['current_period_end']}",
                plan=row["plan"],
            )
            counts["ended"] += 1
    return counts
