"""Stripe: Checkout link through the real client to the double; signed webhooks, replays and out-of-order events."""

from __future__ import annotations

import time

import pytest

from coachbox.payments import checkout
from coachbox.payments.runtime import payments
from coachbox.store import transaction
from tests.payments import stripe_double as sd
from tests.payments.conftest import outbox

pytestmark = pytest.mark.anyio
DAY = 86400
T0 = 1_772_427_600  # 2026-03-02T05:00:00Z, the fake clock's start


async def _post(client, body: bytes, header: str | None = None):
    headers = {"content-type": "application/json", "stripe-signature": header or sd.sign(body)}
    _, response = await client.post("/webhooks/stripe", content=body, headers=headers)
    return response


def _sub(conn):
    return conn.execute("SELECT * FROM subscriptions WHERE provider = 'stripe'").fetchone()


def _meta(learner):
    return {"learner_id": str(learner), "plan": "monthly"}


async def test_it_sends_a_checkout_link_made_through_the_real_client(services, conn, stripe_double, learner):
    session_id = await checkout.card_link(services, learner, "monthly", "USD", "turn-1")
    [made] = stripe_double.sessions
    assert made.session["id"] == session_id
    assert made.params["mode"] == "subscription"
    assert made.params["line_items"]["0"] == {"price": "price_usd_monthly", "quantity": "1"}
    assert made.params["subscription_data"]["metadata"] == _meta(learner)
    assert made.params["success_url"] == "https://coach.example.org/payments/done?lang=en"
    assert made.params["cancel_url"] == "https://coach.example.org/payments/cancelled?lang=en"
    [message] = outbox(conn, learner)
    assert made.session["url"] in message["body"] and "USD 2.50" in message["body"]
    assert await checkout.card_link(services, learner, "monthly", "USD", "turn-1") == session_id  # idempotent
    assert len(outbox(conn, learner)) == 1


async def test_it_answers_400_to_a_bad_or_stale_signature_and_stores_nothing(client, conn, stripe_double, learner):
    body = stripe_double.event(
        "invoice.paid",
        sd.StripeDouble.invoice("in_1", "sub_1", _meta(learner), amount=250, period_start=T0, period_end=T0 + 30 * DAY),
        created=T0,
    )
    assert (await _post(client, body, sd.sign(body, secret="whsec_wrong"))).status_code == 400
    assert (await _post(client, body, sd.sign(body, timestamp=int(time.time()) - 301))).status_code == 400
    assert (await _post(client, body + b" ", sd.sign(body))).status_code == 400  # not the raw body that was signed
    assert conn.execute("SELECT count(*) FROM payment_events").fetchone()[0] == 0
    assert (await _post(client, body)).status_code == 200


@pytest.mark.parametrize("body", [b"{}", b"[]", b'{"id": "evt_1"}', b'{"id": 7, "type": "invoice.paid"}', b"not json"])
async def test_it_answers_400_to_a_signed_body_that_is_not_a_stripe_event(client, conn, body, caplog):
    """Signed with our secret (a hand-made test post), but no event: a clear 400 and a log line, never a 500."""
    with caplog.at_level("WARNING", logger="coachbox.payments"):
        response = await _post(client, body)
    assert response.status_code == 400 and "Traceback" not in response.text
    assert conn.execute("SELECT count(*) FROM payment_events").fetchone()[0] == 0
    assert any("stripe webhook" in r.getMessage() for r in caplog.records)


async def test_it_grants_access_on_checkout_and_invoice_and_processes_a_replayed_event_once(
    client, conn, stripe_double, learner
):
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(learner),
        "metadata": _meta(learner),
    }
    completed = stripe_double.event(
        "checkout.session.completed", sd.StripeDouble.completed_session(session, "sub_1"), created=T0
    )
    paid = stripe_double.event(
        "invoice.paid",
        sd.StripeDouble.invoice("in_1", "sub_1", _meta(learner), amount=250, period_start=T0, period_end=T0 + 30 * DAY),
        created=T0 + 1,
    )
    for body in (completed, paid, paid, paid):
        response = await _post(client, body)
        assert response.status_code == 200
    assert response.json["outcome"] == "duplicate"
    sub = _sub(conn)
    assert (sub["status"], sub["learner_id"]) == ("active", learner)
    assert sub["current_period_end"] == "2026-04-01T05:00:00+00:00"
    assert sub["access_until"] == "2026-04-03T05:00:00+00:00"  # + 2 grace days
    [payment] = conn.execute("SELECT * FROM payments").fetchall()
    assert (payment["amount_minor"], payment["currency"], payment["status"]) == (250, "USD", "paid")
    receipts = [m for m in outbox(conn, learner) if m["idempotency_key"].startswith("payments:receipt")]
    assert len(receipts) == 1 and "USD 2.50" in receipts[0]["body"]


async def test_it_ends_in_the_right_state_when_events_arrive_out_of_order(client, conn, stripe_double, learner):
    meta = _meta(learner)
    inv = sd.StripeDouble.invoice
    period2 = stripe_double.event(
        "invoice.paid",
        inv("in_2", "sub_1", meta, amount=250, period_start=T0 + 30 * DAY, period_end=T0 + 60 * DAY),
        created=T0 + 30 * DAY,
    )
    period1 = stripe_double.event(
        "invoice.paid", inv("in_1", "sub_1", meta, amount=250, period_start=T0, period_end=T0 + 30 * DAY), created=T0
    )
    past_due_old = stripe_double.event(
        "customer.subscription.updated",
        sd.StripeDouble.subscription("sub_1", meta, status="past_due", period_start=T0, period_end=T0 + 30 * DAY),
        created=T0 + 29 * DAY,
    )
    for body in (period2, period1, past_due_old):
        assert (await _post(client, body)).status_code == 200
    sub = _sub(conn)
    assert sub["current_period_end"] == "2026-05-01T05:00:00+00:00"  # the later period wins, whatever the order
    assert sub["status"] == "active"  # the older past_due did not override the newer paid invoice

    deleted = stripe_double.event(
        "customer.subscription.deleted",
        sd.StripeDouble.subscription(
            "sub_1", meta, status="canceled", period_start=T0 + 60 * DAY, period_end=T0 + 90 * DAY
        ),
        created=T0 + 91 * DAY,
    )
    late_paid = stripe_double.event(
        "invoice.paid",
        inv("in_3", "sub_1", meta, amount=250, period_start=T0 + 60 * DAY, period_end=T0 + 90 * DAY),
        created=T0 + 60 * DAY,
    )
    late_active = stripe_double.event(
        "customer.subscription.updated",
        sd.StripeDouble.subscription(
            "sub_1", meta, status="active", period_start=T0 + 60 * DAY, period_end=T0 + 90 * DAY
        ),
        created=T0 + 60 * DAY,
    )
    for body in (deleted, late_paid, late_active):
        assert (await _post(client, body)).status_code == 200
    sub = _sub(conn)
    assert sub["status"] == "ended"  # deleted is final: late events reopen nothing
    assert sub["access_until"] <= "2026-06-01T05:00:00+00:00"
    assert conn.execute("SELECT count(*) FROM payments WHERE status = 'paid'").fetchone()[0] == 3  # money recorded


async def test_it_records_an_event_for_an_unknown_learner_for_review(client, conn, stripe_double):
    body = stripe_double.event(
        "invoice.paid",
        sd.StripeDouble.invoice(
            "in_9",
            "sub_9",
            {"learner_id": "999", "plan": "monthly"},
            amount=250,
            period_start=T0,
            period_end=T0 + 30 * DAY,
        ),
        created=T0,
    )
    assert (await _post(client, body)).json["outcome"] == "unknown_learner"
    assert conn.execute("SELECT reason FROM payment_reviews").fetchone()[0] == "unknown_learner"
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0


async def test_it_marks_a_failed_card_payment_past_due_and_keeps_access_in_grace(client, conn, stripe_double, learner):
    meta = _meta(learner)
    await _post(
        client,
        stripe_double.event(
            "invoice.paid",
            sd.StripeDouble.invoice("in_1", "sub_1", meta, amount=250, period_start=T0, period_end=T0 + 30 * DAY),
            created=T0,
        ),
    )
    await _post(
        client,
        stripe_double.event(
            "invoice.payment_failed",
            sd.StripeDouble.invoice(
                "in_2", "sub_1", meta, amount=250, paid=False, period_start=T0 + 30 * DAY, period_end=T0 + 60 * DAY
            ),
            created=T0 + 30 * DAY,
        ),
    )
    sub = _sub(conn)
    assert (sub["status"], sub["access_until"]) == ("past_due", "2026-04-03T05:00:00+00:00")
    assert outbox(conn, learner)[-1]["idempotency_key"].startswith("payments:card-failed:in_2")


async def test_it_cancels_at_the_period_end_through_stripe(services, conn, stripe_double, learner, client):
    await _post(
        client,
        stripe_double.event(
            "invoice.paid",
            sd.StripeDouble.invoice(
                "in_1", "sub_1", _meta(learner), amount=250, period_start=T0, period_end=T0 + 30 * DAY
            ),
            created=T0,
        ),
    )

    def cancel(c):
        with transaction(c):
            return checkout.cancel(c, learner, services.clock.now())

    stripe_ids, _ = await services.db.run(cancel)
    await checkout.cancel_at_stripe(services, stripe_ids)
    assert stripe_double.state.updates == [("sub_1", {"cancel_at_period_end": "true"})]
    assert _sub(conn)["cancel_at_period_end"] == 1 and payments(services).stripe is not None


def _yearly_event(stripe_double, learner, event_id="evt_yearly_1"):
    return stripe_double.event(
        "invoice.paid",
        sd.StripeDouble.invoice(
            "in_y1",
            "sub_y",
            {"learner_id": str(learner), "plan": "yearly"},
            amount=2500,
            period_start=T0,
            period_end=T0 + 365 * DAY,
        ),
        created=T0,
        event_id=event_id,
    )


async def test_it_answers_200_to_an_event_for_an_unknown_plan_so_stripe_does_not_retry(
    client, conn, stripe_double, learner
):
    body = _yearly_event(stripe_double, learner)
    response = await _post(client, body)
    assert response.status_code == 200  # a non-2xx would make Stripe retry for days; only a person can fix this
    assert (response.json["outcome"], response.json["review"]) == ("unknown_plan", True)
    rows = conn.execute("SELECT reason, reference FROM payment_reviews WHERE resolved_at IS NULL").fetchall()
    assert [tuple(r) for r in rows] == [("unknown_plan", "in_y1")]
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 0
    assert outbox(conn, learner) == []


async def test_it_applies_a_reviewed_event_when_stripe_resends_it_after_the_fix(
    services, client, conn, stripe_double, learner
):
    from coachbox.core.plans import load_plans

    body = _yearly_event(stripe_double, learner)
    assert (await _post(client, body)).json["outcome"] == "unknown_plan"
    p = payments(services)
    # The operator adds the plan back to coachbox.toml and restarts, then presses "Resend" in the dashboard.
    p.plans = {
        **p.plans,
        **load_plans(
            {"yearly": {"price": {"USD": 2500}, "period_days": 365, "stripe_price": {"USD": "price_usd_yearly"}}}
        ),
    }
    response = await _post(client, body)
    assert (response.status_code, response.json["outcome"]) == (200, "paid")
    sub = _sub(conn)
    assert (sub["plan"], sub["status"], sub["learner_id"]) == ("yearly", "active", learner)
    review = conn.execute("SELECT resolved_at, resolved_by, resolution FROM payment_reviews").fetchone()
    assert review["resolved_at"] and review["resolved_by"] is None and "evt_yearly_1" in review["resolution"]
    assert (await _post(client, body)).json["outcome"] == "duplicate"  # applied now: a third delivery is a replay
    assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 1


async def test_a_signature_of_non_ascii_bytes_is_a_400_not_a_500(client, conn, stripe_double, learner):
    """stripe's verify_header compares with hmac.compare_digest on str, which raises on non-ASCII characters: a
    header of odd bytes after `v1=` was a 500 (found reviewing issue #15's constant-time comparisons)."""
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    header = f"t={int(time.time())},v1=".encode() + b"\xc3\xa9\xff"
    _, response = await client.post(
        "/webhooks/stripe", content=body, headers={"content-type": "application/json", "stripe-signature": header}
    )
    assert response.status_code == 400, response.text
    assert conn.execute("SELECT count(*) FROM payment_events").fetchone()[0] == 0
