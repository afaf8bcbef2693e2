"""Prepaid subscriptions across a fake clock: reminders 3 and 1 days before, grace, expiry, renewal; plans config."""

from __future__ import annotations

import pytest

from coachbox.core.plans import PlanError, format_amount, load_plans
from coachbox.learning.access import Access, offer_for
from coachbox.learning.course import Course
from coachbox.payments.runtime import payments
from coachbox.payments.subscriptions import grant_prepaid, load_access, remind_and_expire
from coachbox.store import transaction
from tests.payments.conftest import PLANS, outbox


def _keys(conn, learner):
    return [
        m["idempotency_key"].split(":")[1] + ":" + m["idempotency_key"].rsplit(":", 1)[-1]
        for m in outbox(conn, learner)
    ]


def test_it_reminds_3_and_1_days_before_expiry_keeps_grace_then_ends(services, conn, clock, learner):
    p = payments(services)
    with transaction(conn):
        grant = grant_prepaid(conn, learner_id=learner, plan=p.plans["monthly"], provider="mpesa", now=clock.now())
    assert grant.period_end.isoformat() == "2026-04-01T05:00:00+00:00"

    def sweep_hourly(hours: int) -> None:
        for _ in range(hours):
            clock.advance(hours=1)
            remind_and_expire(conn, p.texts, clock.now())

    def live() -> bool:
        return bool(load_access(conn, services.settings, p.plans, learner, "+254712345678", clock.now()).entitlements)

    sweep_hourly(26 * 24)  # day 26: nothing yet
    assert outbox(conn, learner) == []
    sweep_hourly(2 * 24)  # day 28: the 3-day reminder, once
    assert _keys(conn, learner) == ["reminder:3"]
    sweep_hourly(2 * 24)  # day 30: the 1-day reminder, once
    assert _keys(conn, learner) == ["reminder:3", "reminder:1"]
    assert "2026-04-01" in outbox(conn, learner)[-1]["body"]
    sweep_hourly(24)  # period over, 2 grace days still open
    assert live()
    sweep_hourly(2 * 24)
    assert not live()
    assert _keys(conn, learner)[-1].startswith("expired")
    row = conn.execute("SELECT status FROM subscriptions").fetchone()
    assert row["status"] == "ended"


def test_it_extends_a_running_period_from_its_end(services, conn, clock, learner):
    plan = payments(services).plans["monthly"]
    with transaction(conn):
        grant_prepaid(conn, learner_id=learner, plan=plan, provider="mpesa", now=clock.now())
    clock.advance(days=10)
    with transaction(conn):
        second = grant_prepaid(conn, learner_id=learner, plan=plan, provider="mpesa", now=clock.now())
    assert second.period_end.isoformat() == "2026-05-01T05:00:00+00:00"
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 1


@pytest.mark.parametrize(
    "table, message",
    [
        (
            {"price": {"KES": 200.5}, "period_days": 30},
            r"plans\.monthly\.price\.KES must be a whole number of minor units",
        ),
        ({"price": {"KES": 20050}, "period_days": 30}, r"plans\.monthly\.price\.KES must be whole shillings"),
        ({"price": {"XYZ": 100}, "period_days": 30}, r"plans\.monthly\.price\.XYZ: unknown currency"),
        ({"price": {"USD": True}, "period_days": 30}, r"plans\.monthly\.price\.USD must be a whole number"),
        ({"price": {"USD": 100}}, r"plans\.monthly\.period_days is required"),
        ({"price": {"USD": 100}, "period_days": 30, "courses": 3}, r"plans\.monthly\.courses must be"),
        ({"price": {"USD": 100}, "period_days": 30, "colour": "red"}, r"unknown key plans\.monthly\.colour"),
        (
            {"price": {"USD": 100}, "period_days": 30, "stripe_price": {"EUR": "price_1"}},
            r"plans\.monthly\.stripe_price\.EUR",
        ),
    ],
)
def test_it_refuses_bad_plans_naming_the_key(table, message):
    with pytest.raises(PlanError, match=message):
        load_plans({"monthly": table})


def test_it_formats_money_with_integers_only():
    assert format_amount(20000, "KES") == "KES 200"
    assert format_amount(250, "USD") == "USD 2.50"
    assert format_amount(5000, "UGX") == "UGX 5,000"
    with pytest.raises(TypeError):
        format_amount(2.5, "USD")


def test_it_offers_the_price_in_the_learners_currency():
    plans = tuple(load_plans(PLANS).values())
    course = Course(slug="python-basics", title="Python", language="en", premium=True)
    assert offer_for(Access(plans=plans, region="KE"), course).price == "KES 200"
    assert offer_for(Access(plans=plans, region="US"), course).price == "USD 2.50"
    assert offer_for(Access(plans=plans, region="BR"), course).price == "KES 200"  # first listed
