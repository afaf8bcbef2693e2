"""The worker's side of M-PESA: pushes a lost task never made, and STK queries for callbacks that never came."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from coachbox.core.services import Services
from coachbox.payments import checkout, handover
from coachbox.payments.errors import ProviderError
from coachbox.payments.runtime import payments
from coachbox.payments.settlement import settle_stk
from coachbox.payments.subscriptions import notify
from coachbox.store import payments as store
from coachbox.store import transaction

log = logging.getLogger("coachbox.payments")

MAX_QUERIES = 6  # about an hour of asking with the back-off below; then a person looks at it


def next_query_delay(attempts: int, base_minutes: int) -> timedelta:
    """base, 2×base, 4×base … capped at 30 minutes (Daraja rate-limits the query API)."""
    return timedelta(minutes=min(30, base_minutes * 2 ** max(0, attempts)))


async def sweep(services: Services) -> dict[str, int]:
    """One pass: start unstarted pushes, query overdue ones. Safe to run in several processes at once."""
    p, now = payments(services), services.clock.now()
    counts = {"pushed": 0, "queried": 0, "resolved": 0}
    if p.daraja is None:
        return counts
    try:
        for row in await services.db.run(store.unstarted, now):
            if await checkout.push(services, row["id"]) == "pending":
                counts["pushed"] += 1
        for row in await services.db.run(store.due_queries, now):
            counts["queried"] += 1
            if await query_one(services, row, now) in ("paid", "failed", "cancelled", "gave_up"):
                counts["resolved"] += 1
    finally:
        await p.daraja.aclose()  # its HTTP connection pool belongs to this event loop
    return counts


async def query_one(services: Services, row: Any, now: datetime) -> str:
    p = payments(services)
    daraja = p.daraja
    if daraja is None:  # sweep() queries only when M-PESA is configured
        raise RuntimeError("M-PESA is not configured: nothing can query the push")
    attempts = row["query_attempts"] + 1
    delay = next_query_delay(attempts, services.settings.mpesa.query_after_minutes)
    if not await services.db.run(store.claim_query, row["id"], now + delay, now):
        return "claimed_elsewhere"
    try:
        result = await daraja.stk_query(row["provider_ref"], now=now)
    except ProviderError as exc:
        log.warning("stk query failed", extra={"payment_id": row["id"], "error": str(exc)})
        result = None
    if result is None:
        if attempts >= MAX_QUERIES:
            await services.db.run(_give_up, p, row, now)
            return "gave_up"
        return "waiting"
    payload = json.dumps(
        {"stk_query": row["provider_ref"], "ResultCode": result.result_code, "ResultDesc": result.result_desc}
    )
    return await services.db.run(settle_stk, p.texts, p.plans, result, payload=payload, now=now, source="query")


def _give_up(conn, p, row, now: datetime) -> None:
    """No answer from Daraja for an hour: say so, and leave a review row in case money did move."""
    with transaction(conn):
        if store.settle(
            conn,
            row["id"],
            "failed",
            now=now,
            result_code="no_answer",
            result_desc="M-PESA never confirmed this payment",
        ):
            store.record_review(
                conn,
                "mpesa",
                "no_answer",
                json.dumps({"payment_id": row["id"]}),
                now,
                reference=row["provider_ref"],
                payment_id=row["id"],
            )
            handover.contested(conn, row["id"], "no_answer", now)  # money may have moved: a person checks
            notify(
                conn,
                p.texts,
                row["learner_id"],
                "mpesa_unknown",
                now=now,
                idempotency_key=f"payments:unpaid:{row['id']}",
            )
