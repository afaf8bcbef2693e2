"""The admin payments page: roles, CSRF, list with totals, refund marker, manual grant, review close, CSV."""

from __future__ import annotations

import pytest

from coachbox.store import payments as store
from tests.admin.conftest import cast, password_hash, signed_in  # noqa: F401 - fixtures
from tests.payments.conftest import outbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings):
    # The test client speaks plain http: Secure session cookies (https public_url) would never come back.
    return settings.replace(server={"public_url": "http://127.0.0.1:8000"})


def _paid(conn, learner, now):
    return store.create_payment(
        conn,
        learner_id=learner,
        plan="monthly",
        plan_snapshot_id=None,
        provider="mpesa",
        amount_minor=20000,
        currency="KES",
        period_days=30,
        now=now,
        status="paid",
        phone="+254712345678",
        provider_ref="ws_CO_1",
        receipt="QK1234",
    )


async def test_it_lists_payments_with_totals_and_marks_a_refund_for_owners_only(
    app, client, conn, cast, learner, clock
):
    from sanic_testing.testing import SanicASGITestClient

    payment_id = _paid(conn, learner, clock.now())
    token = await signed_in(client, "bob@school.test")  # editor
    _, page = await client.get("/admin/payments")
    assert page.status_code == 200 and "QK1234" in page.text and "KES 200" in page.text
    _, refused = await client.post(f"/admin/payments/{payment_id}/refund", data={"csrf_token": token, "note": "x"})
    assert refused.status_code == 403
    client = SanicASGITestClient(app)
    token = await signed_in(client, "alice@school.test")  # owner
    _, no_csrf = await client.post(f"/admin/payments/{payment_id}/refund", data={"note": "reversal"})
    assert no_csrf.status_code == 403
    _, done = await client.post(
        f"/admin/payments/{payment_id}/refund",
        data={"csrf_token": token, "note": "M-PESA reversal"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert store.payment(conn, payment_id)["status"] == "refunded"
    assert conn.execute("SELECT action FROM audit_log ORDER BY id DESC").fetchone()[0] == "payment.refund_marked"
    _, csv = await client.get("/admin/payments.csv?provider=mpesa")
    lines = csv.body.decode("utf-8-sig").splitlines()
    assert lines[1].split(",")[9:11] == ["20000", "200"]


async def test_it_grants_a_scholarship_and_tells_the_learner(client, conn, cast, learner):
    token = await signed_in(client, "alice@school.test")
    _, response = await client.post(
        "/admin/payments/grant",
        data={"csrf_token": token, "learner_id": str(learner), "plan": "monthly", "days": "90", "note": "scholarship"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    sub = conn.execute("SELECT * FROM subscriptions").fetchone()
    assert (sub["provider"], sub["current_period_end"][:10]) == ("manual", "2026-05-31")
    assert outbox(conn, learner)[-1]["idempotency_key"].startswith("payments:granted:")
    row = conn.execute("SELECT amount_minor, provider, note FROM payments").fetchone()
    assert tuple(row) == (0, "manual", "scholarship")


async def test_it_links_the_payments_page_in_the_nav_for_a_viewer(client, cast):
    import re

    await signed_in(client, "charlie@school.test")  # viewer: the least role that may see payments
    _, page = await client.get("/admin/")
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page.text, re.S).group(1)
    assert '<a href="/admin/payments">Payments</a>' in nav
    _, payments_page = await client.get("/admin/payments")
    assert payments_page.status_code == 200
    assert '<a href="/admin/payments" aria-current="page">Payments</a>' in payments_page.text
