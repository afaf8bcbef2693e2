"""M-PESA results (callback or STK query) → payment row, access and a message: once per CheckoutRequestID."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from coachbox.core.plans import Plan, format_amount
from coachbox.payments import handover
from coachbox.payments.mpesa import USER_CANCELLED, StkResult, same_phone
from coachbox.payments.subscriptions import grant_prepaid, local_day, notify
from coachbox.store import payments as store
from coachbox.store import transaction


def settle_stk(
    conn: sqlite3.Connection,
    texts: Any,
    plans: Mapping[str, Plan],
    result: StkResult,
    *,
    payload: str,
    now,
    source: str = "callback",
    remote_addr: str | None = None,
) -> str:
    """Apply one STK result in one transaction; returns what happened (for logs, tests and the bench).

    Nothing but a result matching the payment we asked for grants access: an unknown CheckoutRequestID, a
    different amount or phone, or a success for a payment already closed goes to payment_reviews instead.
    """
    with transaction(conn):
        pay = store.payment_by_ref(conn, "mpesa", result.checkout_request_id)
        if pay is None:
            store.record_review(
                conn,
                "mpesa",
                "unknown_checkout",
                payload,
                now,
                reference=result.checkout_request_id,
                remote_addr=remote_addr,
            )
            return "unknown_checkout"
        if pay["status"] not in ("new", "pending"):
            return _after_settled(conn, pay, result, payload, now, remote_addr)
        if result.ok and source == "callback":
            problem = None
            if result.amount_minor != pay["amount_minor"]:
                problem = "amount_mismatch"
            elif not same_phone(pay["phone"], result.phone):
                problem = "phone_mismatch"
            if problem:
                # The payment stays pending: the genuine callback, or the worker's STK query, still settles it.
                store.record_review(
                    conn,
                    "mpesa",
                    problem,
                    payload,
                    now,
                    reference=result.checkout_request_id,
                    payment_id=pay["id"],
                    remote_addr=remote_addr,
                )
                handover.contested(conn, pay["id"], problem, now)  # its learner's teacher sees it too
                return problem
        if result.ok:
            return _paid(conn, texts, plans, pay, result, payload, now, source)
        return _unpaid(conn, texts, pay, result, payload, now, source)


def _paid(conn, texts, plans, pay, result: StkResult, payload: str, now, source: str) -> str:
    plan = plans.get(pay["plan"])
    if plan is None:
        # Money arrived for a plan removed from coachbox.toml since the push: a person decides what it buys.
        store.settle(
            conn, pay["id"], "paid", now=now, result_code="0", result_desc=result.result_desc, receipt=result.receipt
        )
        store.record_review(
            conn, "mpesa", "unknown_plan", payload, now, reference=result.checkout_request_id, payment_id=pay["id"]
        )
        handover.contested(conn, pay["id"], "unknown_plan", now)
        store.record_event(
            conn,
            "mpesa",
            result.checkout_request_id,
            f"stk_{source}",
            payload,
            now,
            outcome="paid_unknown_plan",
            payment_id=pay["id"],
        )
        return "paid_unknown_plan"
    if not store.settle(
        conn, pay["id"], "paid", now=now, result_code="0", result_desc=result.result_desc, receipt=result.receipt
    ):
        return "duplicate"
    grant = grant_prepaid(
        conn,
        learner_id=pay["learner_id"],
        plan=plan,
        provider="mpesa",
        now=now,
        days=pay["period_days"],
        snapshot_id=pay["plan_snapshot_id"],
    )
    store.link_subscription(conn, pay["id"], grant.subscription_id)
    store.record_event(
        conn, "mpesa", result.checkout_request_id, f"stk_{source}", payload, now, outcome="paid", payment_id=pay["id"]
    )
    notify(
        conn,
        texts,
        pay["learner_id"],
        "receipt",
        now=now,
        idempotency_key=f"payments:receipt:{pay['id']}",
        amount=format_amount(pay["amount_minor"], pay["currency"]),
        plan=plan.title,
        receipt=result.receipt or result.checkout_request_id[-10:],
        date=local_day(grant.period_end, conn, pay["learner_id"]),
    )
    return "paid"


def _unpaid(conn, texts, pay, result: StkResult, payload: str, now, source: str) -> str:
    status = "cancelled" if result.result_code == USER_CANCELLED else "failed"
    if not store.settle(
        conn, pay["id"], status, now=now, result_code=str(result.result_code), result_desc=result.result_desc
    ):
        return "duplicate"
    store.record_event(
        conn, "mpesa", result.checkout_request_id, f"stk_{source}", payload, now, outcome=status, payment_id=pay["id"]
    )
    notify(
        conn,
        texts,
        pay["learner_id"],
        f"mpesa_{status}",
        now=now,
        idempotency_key=f"payments:unpaid:{pay['id']}",
        reason=result.result_desc,
        amount=format_amount(pay["amount_minor"], pay["currency"]),
    )
    return status


def _after_settled(conn, pay, result: StkResult, payload: str, now, remote_addr) -> str:
    """A second word on a closed payment: a replay changes nothing; a contradiction is kept for a person."""
    if pay["status"] == "paid" and result.ok:
        if pay["receipt"] is None and result.receipt and result.amount_minor == pay["amount_minor"]:
            # The query settled it first (queries carry no receipt); the late callback brings the number.
            conn.execute(
                "UPDATE payments SET receipt = ? WHERE id = ? AND receipt IS NULL", (result.receipt, pay["id"])
            )
        return "duplicate"
    if result.ok and pay["status"] in ("failed", "cancelled"):
        # Money taken for a payment we told the learner had failed: never silent. A person grants or refunds.
        store.record_review(
            conn,
            "mpesa",
            "paid_after_failure",
            payload,
            now,
            reference=result.checkout_request_id,
            payment_id=pay["id"],
            remote_addr=remote_addr,
        )
        handover.contested(conn, pay["id"], "paid_after_failure", now)  # money taken: a person must act
        return "paid_after_failure"
    return "duplicate"
