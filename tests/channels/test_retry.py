"""An admin's retry of a failed, undelivered or waiting message keeps the sender's look-up-before-resend rule."""

from __future__ import annotations

from datetime import datetime

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.channels.twilio.status import StatusUpdate, apply_status
from coachbox.store import messages, transaction
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    enqueue,
    row,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio


async def _drain(services) -> None:
    while await deliver_due(services):
        pass
    await services.channel.close()


def _admin_retry(conn, message_id: int, now: datetime) -> int:
    with transaction(conn):  # as the operations page does
        return messages.retry(conn, [message_id], now)


async def test_it_looks_up_an_unsure_failure_before_an_admin_retry_resends_it(tservices, conn, clock, twilio_double):
    tservices.channel.timeout = 0.3
    mid = enqueue(conn, ALICE, "taken, answer lost", clock.now())
    twilio_double.fail_next(1, status=500, hang=0.6, accept=True)  # Twilio took it; we never heard
    await _drain(tservices)
    with transaction(conn):  # ...and the sender gave up on it (say, the look-ups failed until the horizon)
        conn.execute("UPDATE messages SET status = 'failed', error_message = 'gave up' WHERE id = ?", (mid,))
    assert row(conn, mid)["error_code"] == "timeout"
    clock.advance(hours=2)
    assert _admin_retry(conn, mid, clock.now()) == 1
    queued = row(conn, mid)
    assert queued["status"] == "queued" and queued["attempts"] == 1 and queued["error_code"] == "timeout"
    await _drain(tservices)
    assert len(twilio_double.accepted) == 1  # found at Twilio, not sent twice
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["provider_sid"] == twilio_double.accepted[0].sid


async def test_it_resends_a_permanent_failure_after_an_admin_retry(tservices, conn, clock, twilio_double):
    twilio_double.fail_next(1, status=400, code=21211, message="The 'To' number is not a valid phone number.")
    mid = enqueue(conn, ALICE, "hi", clock.now())
    await _drain(tservices)
    assert row(conn, mid)["status"] == "failed" and twilio_double.accepted == []
    assert _admin_retry(conn, mid, clock.now()) == 1
    await _drain(tservices)
    assert row(conn, mid)["status"] == "sent" and len(twilio_double.accepted) == 1


async def test_it_resends_a_message_twilio_reported_undelivered_after_an_admin_retry(
    tservices, conn, clock, twilio_double
):
    mid = enqueue(conn, ALICE, "did not arrive", clock.now())
    await _drain(tservices)
    first_sid = row(conn, mid)["provider_sid"]
    apply_status(
        conn,
        StatusUpdate(sid=first_sid, status="undelivered", error_code="30008", message_id=mid),
        clock.now().isoformat(),
    )
    assert row(conn, mid)["status"] == "undelivered"
    clock.advance(minutes=10)
    assert _admin_retry(conn, mid, clock.now()) == 1
    await _drain(tservices)
    retried = row(conn, mid)
    assert retried["status"] == "sent" and retried["provider_sid"] not in (None, first_sid)
    assert [m.get("Body") for m in twilio_double.accepted] == ["did not arrive", "did not arrive"]


async def test_it_retries_only_failed_undelivered_or_waiting_rows(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "fine", clock.now())
    await _drain(tservices)
    assert _admin_retry(conn, mid, clock.now()) == 0
    assert row(conn, mid)["status"] == "sent"
