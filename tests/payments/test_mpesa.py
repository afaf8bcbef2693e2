"""M-PESA end to end: STK push through the real httpx client to the Daraja double, callbacks through the app."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from coachbox.learning.access import may_access
from coachbox.learning.course import Course
from coachbox.payments import checkout, recovery
from coachbox.payments.runtime import payments
from coachbox.payments.subscriptions import load_access
from coachbox.store import transaction
from tests.payments import daraja_double as dd
from tests.payments.conftest import CALLBACK_SECRET, outbox, poster

pytestmark = pytest.mark.anyio
PREMIUM = Course(slug="python-basics", title="Python Basics", language="en", premium=True, id=99)


class _Learner:
    """The two things may_access reads from the engine's Learner: its Access and its enrollment."""

    def __init__(self, access, next_position=5):
        self.access, self._next = access, next_position

    def enrollment(self, course_id):
        return type("E", (), {"next_position": self._next})()


async def _pay(services, learner_id: int, phone: str = "+254712345678") -> int:
    p = payments(services)

    def create(conn):
        with transaction(conn):
            return checkout.request_mpesa(
                conn, p, learner_id=learner_id, plan_name="monthly", phone=phone, now=services.clock.now()
            )

    payment_id = await services.db.run(create)
    assert await checkout.push(services, payment_id) == "pending"
    return payment_id


def _payment(conn, payment_id):
    return conn.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()


def _has_access(conn, services, learner_id) -> bool:
    access = load_access(
        conn, services.settings, payments(services).plans, learner_id, "+254712345678", services.clock.now()
    )
    return may_access(_Learner(access), PREMIUM)


async def test_it_grants_access_after_a_successful_stk_push_and_callback(services, client, conn, daraja, learner):
    payment_id = await _pay(services, learner)
    push = daraja.pushes[0]
    stamp = push.body["Timestamp"]
    assert stamp == "20260302080000"  # 05:00 UTC is 08:00 in Nairobi
    assert base64.b64decode(push.body["Password"]).decode() == f"{dd.SHORTCODE}{dd.PASSKEY}{stamp}"
    assert push.body["Amount"] == 200 and isinstance(push.body["Amount"], int)
    assert push.body["PartyA"] == push.body["PhoneNumber"] == "254712345678"
    assert push.body["CallBackURL"] == f"https://coach.example.org/webhooks/mpesa/{CALLBACK_SECRET}"
    assert _payment(conn, payment_id)["status"] == "pending"
    assert not _has_access(conn, services, learner)

    [response] = await daraja.deliver(poster(client))
    assert response.status_code == 200 and response.json == {"ResultCode": 0, "ResultDesc": "Accepted"}
    row = _payment(conn, payment_id)
    assert (row["status"], row["amount_minor"], row["currency"], row["receipt"]) == ("paid", 20000, "KES", push.receipt)
    assert _has_access(conn, services, learner)
    kinds = [m["idempotency_key"] for m in outbox(conn, learner)]
    assert kinds == [f"payments:sent:{payment_id}", f"payments:receipt:{payment_id}"]
    assert push.receipt in outbox(conn, learner)[-1]["body"]


async def test_it_caches_the_oauth_token_between_calls(services, daraja, learner):
    await _pay(services, learner)
    await _pay(services, learner)
    assert daraja.state.token_requests == 1


async def test_it_records_a_cancelled_push_and_tells_the_learner(services, client, conn, daraja, learner):
    daraja.when_phone("+254712345678", dd.Outcome(result_code=1032, result_desc="Request cancelled by user"))
    payment_id = await _pay(services, learner)
    await daraja.deliver(poster(client))
    row = _payment(conn, payment_id)
    assert (row["status"], row["result_code"]) == ("cancelled", "1032")
    assert not _has_access(conn, services, learner)
    assert outbox(conn, learner)[-1]["idempotency_key"] == f"payments:unpaid:{payment_id}"


async def test_it_resolves_a_callback_that_never_comes_with_an_stk_query(services, conn, clock, daraja, learner):
    daraja.when_phone("+254712345678", dd.Outcome(send_callback=False, answered=False))
    payment_id = await _pay(services, learner)
    clock.advance(minutes=3)
    assert (await recovery.sweep(services))["resolved"] == 0  # "The transaction is being processed"
    assert _payment(conn, payment_id)["status"] == "pending"
    daraja.answer(daraja.pushes[0].checkout_request_id, dd.Outcome(send_callback=False))
    clock.advance(minutes=6)
    assert (await recovery.sweep(services))["resolved"] == 1
    assert _payment(conn, payment_id)["status"] == "paid"
    assert _has_access(conn, services, learner)
    assert outbox(conn, learner)[-1]["idempotency_key"] == f"payments:receipt:{payment_id}"
    assert len(daraja.state.queries) == 2


async def test_it_processes_a_duplicate_callback_once(services, client, conn, daraja, learner):
    payment_id = await _pay(services, learner)
    for _ in range(3):
        await daraja.deliver(poster(client))
    assert conn.execute("SELECT count(*) FROM payment_events WHERE provider = 'mpesa'").fetchone()[0] == 1
    sub = conn.execute("SELECT * FROM subscriptions WHERE learner_id = ?", (learner,)).fetchall()
    assert len(sub) == 1 and sub[0]["current_period_end"].startswith("2026-04-01")  # 30 days, not 90
    receipts = [m for m in outbox(conn, learner) if m["idempotency_key"].startswith("payments:receipt")]
    assert len(receipts) == 1 and _payment(conn, payment_id)["status"] == "paid"


async def test_it_answers_404_to_a_wrong_path_secret_and_stores_nothing(services, client, conn, daraja, learner):
    await _pay(services, learner)
    body = daraja.pushes[0].callback_bytes()
    _, response = await client.post("/webhooks/mpesa/not-the-secret", content=body)
    assert response.status_code == 404
    _, response = await client.post("/webhooks/mpesa/s%C3%A9cr%C3%A9t%FF", content=body)  # odd characters: not a 500
    assert response.status_code == 404
    assert conn.execute("SELECT count(*) FROM payment_reviews").fetchone()[0] == 0
    assert conn.execute("SELECT status FROM payments").fetchone()[0] == "pending"


@pytest.mark.parametrize(
    "outcome, reason",
    [
        (dd.Outcome(paid_amount=1), "amount_mismatch"),
        (dd.Outcome(paid_phone="254799999999"), "phone_mismatch"),
    ],
)
async def test_it_never_grants_for_a_callback_that_does_not_match_the_request(
    services, client, conn, daraja, learner, outcome, reason
):
    daraja.when_phone("+254712345678", outcome)
    payment_id = await _pay(services, learner)
    await daraja.deliver(poster(client))
    review = conn.execute("SELECT * FROM payment_reviews").fetchone()
    assert (review["reason"], review["payment_id"]) == (reason, payment_id)
    assert _payment(conn, payment_id)["status"] == "pending"
    assert not _has_access(conn, services, learner)


async def test_it_records_an_unknown_checkout_request_id_for_review(services, client, conn, learner):
    forged = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "1-2-3",
                "CheckoutRequestID": "ws_CO_forged",
                "ResultCode": 0,
                "ResultDesc": "ok",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 200.00},
                        {"Name": "MpesaReceiptNumber", "Value": "FAKE123"},
                        {"Name": "PhoneNumber", "Value": 254712345678},
                    ]
                },
            }
        }
    }
    for _ in range(5):
        _, response = await client.post(f"/webhooks/mpesa/{CALLBACK_SECRET}", content=json.dumps(forged))
        assert response.status_code == 200
    rows = conn.execute("SELECT reason, reference FROM payment_reviews").fetchall()
    assert [tuple(r) for r in rows] == [("unknown_checkout", "ws_CO_forged")]  # replays add no rows
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0


async def test_it_refuses_callbacks_from_outside_the_ip_allow_list(settings, services, conn, learner, daraja):
    from sanic_testing.testing import SanicASGITestClient

    from coachbox.roots.app import create_app

    services.settings = settings.replace(mpesa={"allowed_ips": "196.201.214.200"})
    client = SanicASGITestClient(create_app(services.settings, services, name="allowlist"))
    await _pay(services, learner)
    [response] = await daraja.deliver(poster(client))
    assert response.status_code == 403
    assert conn.execute("SELECT status FROM payments").fetchone()[0] == "pending"


def _forwarding_poster(post_with_headers, forwarded_for: str):
    async def post(path: str, body: bytes):
        headers = {"content-type": "application/json", "X-Forwarded-For": forwarded_for}
        return await post_with_headers(path, content=body, headers=headers)

    return post


async def test_it_ignores_a_forged_forwarded_for_when_no_proxy_is_trusted(settings, services, conn, learner, daraja):
    from sanic_testing.testing import SanicASGITestClient

    from coachbox.roots.app import create_app

    services.settings = settings.replace(mpesa={"allowed_ips": "196.201.214.200"})
    client = SanicASGITestClient(create_app(services.settings, services, name="no_proxy"))

    async def post_with_headers(path, **kwargs):
        _, response = await client.post(path, **kwargs)
        return response

    await _pay(services, learner)
    [response] = await daraja.deliver(_forwarding_poster(post_with_headers, "196.201.214.200"))
    assert response.status_code == 403
    assert conn.execute("SELECT status FROM payments").fetchone()[0] == "pending"


async def test_it_checks_the_allow_list_against_the_address_our_proxy_saw(settings, services, conn, learner, daraja):
    import httpx

    from coachbox.roots.app import create_app
    from tests.admin.conftest import on_socket

    services.settings = settings.replace(
        server={"trusted_proxies": "127.0.0.1"}, mpesa={"allowed_ips": "196.201.214.200"}
    )
    await _pay(services, learner)
    async with on_socket(create_app(services.settings, services, name="behind_proxy")) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            # The caller wrote Safaricom's address; our proxy (127.0.0.1) appended the one it really came from.
            [forged] = await daraja.deliver(_forwarding_poster(http.post, "196.201.214.200, 203.0.113.9"))
            assert forged.status_code == 403
            assert conn.execute("SELECT status FROM payments").fetchone()[0] == "pending"
            [genuine] = await daraja.deliver(_forwarding_poster(http.post, "196.201.214.200"))
            assert genuine.status_code == 200, genuine.text
    assert conn.execute("SELECT status FROM payments").fetchone()[0] != "pending"


async def test_it_tells_the_learner_when_daraja_refuses_the_push(services, conn, daraja, learner):
    daraja.fail_next_push(
        400, {"requestId": "x", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid PhoneNumber"}
    )
    p = payments(services)

    def create(c):
        with transaction(c):
            return checkout.request_mpesa(
                c, p, learner_id=learner, plan_name="monthly", phone="+254712345678", now=services.clock.now()
            )

    payment_id = await services.db.run(create)
    assert await checkout.push(services, payment_id) == "failed"
    assert _payment(conn, payment_id)["status"] == "failed"
    assert outbox(conn, learner)[-1]["idempotency_key"] == f"payments:unpaid:{payment_id}"


def _forged(push, outcome):
    """The callback body an attacker who knows the URL could post: real ids, a made-up result."""
    return dataclasses.replace(push, outcome=outcome).callback_bytes()


async def test_it_confirms_a_success_callback_with_one_stk_query(services, client, conn, daraja, learner):
    payment_id = await _pay(services, learner)
    for _ in range(3):
        await daraja.deliver(poster(client))
    assert daraja.state.queries == [daraja.pushes[0].checkout_request_id]  # replays ask nothing
    assert _payment(conn, payment_id)["receipt"] == daraja.pushes[0].receipt  # the callback's number is kept


async def test_it_never_grants_for_a_forged_success_the_stk_query_denies(services, client, conn, daraja, learner):
    daraja.when_phone(
        "+254712345678", dd.Outcome(result_code=1032, result_desc="Request cancelled by user", send_callback=False)
    )
    payment_id = await _pay(services, learner)
    path = f"/webhooks/mpesa/{CALLBACK_SECRET}"
    _, response = await client.post(path, content=_forged(daraja.pushes[0], dd.Outcome()))
    assert response.status_code == 200
    assert (_payment(conn, payment_id)["status"], _payment(conn, payment_id)["result_code"]) == ("cancelled", "1032")
    assert not _has_access(conn, services, learner)
    review = conn.execute("SELECT reason, payment_id FROM payment_reviews").fetchone()
    assert tuple(review) == ("callback_contradicted", payment_id)


async def test_it_grants_when_a_forged_cancel_is_contradicted_by_the_stk_query(services, client, conn, daraja, learner):
    daraja.when_phone("+254712345678", dd.Outcome(send_callback=False))  # the learner paid; the callback is lost
    payment_id = await _pay(services, learner)
    forged = _forged(daraja.pushes[0], dd.Outcome(result_code=1032, result_desc="Request cancelled by user"))
    await client.post(f"/webhooks/mpesa/{CALLBACK_SECRET}", content=forged)
    assert _payment(conn, payment_id)["status"] == "paid"
    assert _has_access(conn, services, learner)
    assert conn.execute("SELECT reason FROM payment_reviews").fetchone()[0] == "callback_contradicted"


async def test_it_leaves_a_callback_daraja_cannot_confirm_yet_to_the_worker(
    services, client, conn, clock, daraja, learner
):
    daraja.when_phone("+254712345678", dd.Outcome(send_callback=False, answered=False))
    payment_id = await _pay(services, learner)
    await client.post(f"/webhooks/mpesa/{CALLBACK_SECRET}", content=_forged(daraja.pushes[0], dd.Outcome()))
    row = _payment(conn, payment_id)
    assert row["status"] == "pending" and row["next_query_at"] <= services.clock.now().isoformat()
    assert not _has_access(conn, services, learner)
    daraja.answer(daraja.pushes[0].checkout_request_id, dd.Outcome(send_callback=False))
    assert (await recovery.sweep(services))["resolved"] == 1  # at once, not query_after_minutes later
    assert _payment(conn, payment_id)["status"] == "paid"


async def test_it_trusts_the_callback_alone_when_confirm_with_query_is_off(settings, services, conn, daraja, learner):
    from sanic_testing.testing import SanicASGITestClient

    from coachbox.roots.app import create_app

    services.settings = settings.replace(mpesa={"confirm_with_query": False})
    client = SanicASGITestClient(create_app(services.settings, services, name="trusting"))
    payment_id = await _pay(services, learner)
    await daraja.deliver(poster(client))
    assert _payment(conn, payment_id)["status"] == "paid" and daraja.state.queries == []
