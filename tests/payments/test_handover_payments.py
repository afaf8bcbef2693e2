"""Payments a person must look at reach a teacher (store.handover, reason payment), once each, whatever replays."""

from __future__ import annotations

import itertools

import pytest

from coachbox.channels.base import Inbound
from coachbox.payments import checkout
from coachbox.payments.runtime import payments
from coachbox.store import handover as handovers
from coachbox.store import transaction
from coachbox.turns.runner import handle_inbound
from tests.payments import daraja_double as dd
from tests.payments.conftest import outbox, poster

pytestmark = pytest.mark.anyio
PHONE = "+254712345678"
_sids = itertools.count(1)


async def _pay(services, learner_id: int) -> int:
    p = payments(services)

    def create(conn):
        with transaction(conn):
            return checkout.request_mpesa(
                conn, p, learner_id=learner_id, plan_name="monthly", phone=PHONE, now=services.clock.now()
            )

    payment_id = await services.db.run(create)
    assert await checkout.push(services, payment_id) == "pending"
    return payment_id


async def _say(services, text: str) -> list[str]:
    inbound = Inbound("whatsapp", f"whatsapp:{PHONE}", text, f"SM{next(_sids):032d}", services.clock.now(), phone=PHONE)
    outcome = await handle_inbound(services, inbound)
    return [
        services.db.run_sync(lambda c, i=i: c.execute("SELECT body FROM messages WHERE id = ?", (i,)).fetchone()[0])
        for i in outcome.outbox_ids
    ]


async def test_teacher_after_a_failed_payment_hands_over_that_payment(services, client, conn, daraja, learner):
    daraja.when_phone(PHONE, dd.Outcome(result_code=2001, result_desc="The initiator information is invalid."))
    payment_id = await _pay(services, learner)
    await daraja.deliver(poster(client))
    told = outbox(conn, learner)[-1]["body"]
    assert "did not go through" in told and "*TEACHER* if money left your account" in told

    assert "A teacher" in (await _say(services, "TEACHER"))[0]
    await _say(services, "TEACHER")  # asking again: the same payment is not added twice

    [handover] = handovers.list_handovers(conn)
    assert (handover.reason, handover.payment_id, handover.bot_paused) == ("asked", payment_id, True)
    opened = [(e.reason, e.body) for e in handovers.handover_events(conn, handover.id) if e.kind == "opened"]
    assert [r for r, _ in opened] == ["asked", "payment", "asked"]
    assert f"M-PESA payment {payment_id} of KES 200" in opened[1][1] and "initiator" in opened[1][1]


async def test_teacher_with_no_payment_trouble_is_just_asked(services, conn, learner):
    await _say(services, "TEACHER")
    [handover] = handovers.list_handovers(conn)
    assert handover.payment_id is None
    assert [e.reason for e in handovers.handover_events(conn, handover.id)] == ["asked"]


async def test_a_payment_put_in_review_reaches_a_teacher_once(services, client, conn, daraja, learner):
    daraja.when_phone(PHONE, dd.Outcome(paid_amount=1))  # one shilling paid for a KES 200 plan
    payment_id = await _pay(services, learner)
    for _ in range(3):  # Daraja's callback, and two replays of it
        await daraja.deliver(poster(client))
    assert conn.execute("SELECT reason FROM payment_reviews").fetchone()[0] == "amount_mismatch"
    [handover] = handovers.list_handovers(conn)
    assert (handover.learner_id, handover.reason, handover.payment_id) == (learner, "payment", payment_id)
    assert not handover.bot_paused  # the learner did not ask: the bot keeps answering them until a teacher pauses it
    assert "put in review: amount_mismatch" in handover.detail
    assert len(handovers.handover_events(conn, handover.id)) == 1
