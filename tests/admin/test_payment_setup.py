"""The Payments page says honestly what is set up: which providers work, what is missing, the keys that fix it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coachbox.admin.payment_setup import payment_setup
from coachbox.store import payments as store
from tests.admin.conftest import add_learner, signed_in

PLANS = {"monthly": {"title": "Monthly", "price": {"KES": 20000}, "period_days": 30}}
MPESA = {
    "consumer_key": "ck",
    "consumer_secret": "cs",
    "shortcode": "174379",
    "passkey": "pk",
    "callback_secret": "a-long-random-token",
}


def test_a_box_without_payments_says_so_and_names_every_missing_key(settings):
    plans, mpesa, stripe = payment_setup(settings)
    assert not plans.ready and "learners are never asked to pay" in plans.says
    # Secrets are named with the environment variable that sets them; the short code is not a secret.
    assert not mpesa.ready and mpesa.missing == (
        ("mpesa.consumer_key", "COACHBOX_MPESA_CONSUMER_KEY"),
        ("mpesa.consumer_secret", "COACHBOX_MPESA_CONSUMER_SECRET"),
        ("mpesa.shortcode", ""),
        ("mpesa.passkey", "COACHBOX_MPESA_PASSKEY"),
        ("mpesa.callback_secret", "COACHBOX_MPESA_CALLBACK_SECRET"),
    )
    assert "Restart the box" in mpesa.fix
    assert not stripe.ready and [key for key, _ in stripe.missing] == ["stripe.secret_key", "stripe.webhook_secret"]


def test_a_configured_provider_says_what_learners_can_do_and_its_caveats(settings):
    partly = settings.replace(plans=PLANS, mpesa=MPESA, stripe={"secret_key": "sk_test"})
    plans, mpesa, stripe = payment_setup(partly)
    assert plans.ready and plans.says == "1 plan: Monthly: KES 200 for 30 days."
    assert mpesa.ready and "Learners in KE can pay by M-PESA" in mpesa.says and "sandbox" in mpesa.note
    assert not stripe.ready and stripe.missing == (("stripe.webhook_secret", "COACHBOX_STRIPE_WEBHOOK_SECRET"),)


@pytest.mark.anyio
async def test_the_payments_page_shows_the_setup_to_every_role(app, client, cast):
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/payments")
    assert page.status_code == 200 and "Set-up on this box" in page.text
    assert "M-PESA:</strong> Off: learners cannot pay by M-PESA." in page.text
    assert (
        '<code>mpesa.passkey</code> <span class="hint">secret: environment variable</span> <code>COACHBOX_MPESA_PASSKEY</code>'
        in page.text
    )
    assert "<code>stripe.secret_key</code>" in page.text and "<code>mpesa.shortcode</code></li>" in page.text
    assert "From (day, Nairobi time)" in page.text and "UTC" not in page.text


@pytest.mark.anyio
async def test_the_date_filter_takes_the_schools_days_not_utc_days(app, client, cast, conn):
    learner = add_learner(conn)
    # 22:30 UTC on 1 March is 01:30 on 2 March in Nairobi; 20:30 UTC on 2 March is 23:30 the same Nairobi day.
    for receipt, at in (("EARLY", datetime(2026, 3, 1, 22, 30)), ("LATE", datetime(2026, 3, 2, 20, 30))):
        store.create_payment(
            conn,
            learner_id=learner,
            plan="monthly",
            plan_snapshot_id=None,
            provider="mpesa",
            amount_minor=20000,
            currency="KES",
            period_days=30,
            now=at.replace(tzinfo=UTC),
            status="paid",
            receipt=receipt,
            provider_ref=receipt,
        )
    await signed_in(client, "charlie@school.test")
    _, day = await client.get("/admin/payments?since=2026-03-02&until=2026-03-02")
    assert "EARLY" in day.text and "LATE" in day.text
    _, before = await client.get("/admin/payments?until=2026-03-01")
    assert "EARLY" not in before.text and "LATE" not in before.text
