"""The sender holds what the box starts on its own (proactive rows) when it falls due inside the learner's quiet
hours; answers are never held, and never wait behind a held, scheduled or waiting row."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.payments.subscriptions import notify
from coachbox.store import transaction
from coachbox.turns.runner import Resources
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    enqueue,
    row,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio
BOB = "whatsapp:+447700900002"  # a learner in London: 18:30 there when it is 21:30 in Nairobi


async def _drain(services) -> None:
    while await deliver_due(services):
        pass
    await services.channel.close()


def _in_zone(conn, message_id: int, tz: str) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE learners SET timezone = ? WHERE id = (SELECT learner_id FROM messages WHERE id = ?)",
            (tz, message_id),
        )


async def test_it_holds_a_draining_fan_out_to_the_end_of_each_learners_quiet_hours(
    tservices, conn, clock, twilio_double
):
    clock.set(datetime.fromisoformat("2026-03-02T18:30:00+00:00"))  # 21:30 in Nairobi, 18:30 in London
    alice = enqueue(
        conn, ALICE, "This week's broadcast", clock.now(), kind="broadcast", idempotency_key="b:1:1", proactive=True
    )
    bob = enqueue(
        conn, BOB, "This week's broadcast", clock.now(), kind="broadcast", idempotency_key="b:1:2", proactive=True
    )
    _in_zone(conn, alice, "Africa/Nairobi")
    _in_zone(conn, bob, "Europe/London")
    await _drain(tservices)
    assert [m.to for m in twilio_double.accepted] == [BOB]
    held = row(conn, alice)
    assert held["status"] == "queued" and held["attempts"] == 0 and held["provider_sid"] is None
    assert held["next_attempt_at"] == "2026-03-03T04:00:00+00:00"  # 07:00 in Nairobi
    assert held["error_code"] == "quiet_hours" and "07:00" in held["error_message"]
    assert row(conn, bob)["status"] == "sent"

    clock.set(datetime.fromisoformat("2026-03-03T03:59:00+00:00"))
    assert await deliver_due(tservices) == 0  # still quiet: not even claimed
    clock.set(datetime.fromisoformat("2026-03-03T04:00:00+00:00"))
    await _drain(tservices)
    assert [m.to for m in twilio_double.accepted] == [BOB, ALICE]
    sent = row(conn, alice)
    assert sent["status"] == "sent" and sent["error_code"] is None


async def test_it_holds_a_retry_that_falls_due_in_quiet_hours(tservices, conn, clock, twilio_double):
    clock.set(datetime.fromisoformat("2026-03-02T17:59:59+00:00"))  # 20:59:59 in Nairobi
    mid = enqueue(
        conn, ALICE, "Your daily lesson", clock.now(), kind="lesson", idempotency_key="daily:1", proactive=True
    )
    twilio_double.fail_next(1, status=429, code=20429, retry_after=60)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "retry"
    clock.advance(minutes=2)  # 21:01: the retry is due, but now inside quiet hours
    await _drain(tservices)
    held = row(conn, mid)
    assert held["status"] == "retry" and held["next_attempt_at"] == "2026-03-03T04:00:00+00:00"
    assert twilio_double.accepted == []


async def test_it_never_holds_answers_to_the_learners_own_messages(tservices, conn, clock, twilio_double):
    clock.set(datetime.fromisoformat("2026-03-02T20:00:00+00:00"))  # 23:00 in Nairobi
    broadcast = enqueue(
        conn, ALICE, "Broadcast", clock.now(), kind="broadcast", idempotency_key="b:2:1", proactive=True
    )
    await _drain(tservices)
    assert row(conn, broadcast)["status"] == "queued" and twilio_double.accepted == []
    # The learner writes at 23:00: the turn's rows answer them, whatever their kind, even behind a held row.
    quiz = enqueue(conn, ALICE, "Question 1 of 3", clock.now(), kind="quiz", idempotency_key="in:whatsapp:SM1:out:0")
    reply = enqueue(conn, ALICE, "Here is the menu", clock.now(), idempotency_key="tutor:7:answer")
    farewell = enqueue(conn, ALICE, "Goodbye", clock.now(), kind="farewell", idempotency_key="in:whatsapp:SM2:out:0")
    certificate = enqueue(conn, ALICE, "Your certificate", clock.now(), kind="certificate", idempotency_key="cert:1")
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == [
        "Question 1 of 3",
        "Here is the menu",
        "Goodbye",
        "Your certificate",
    ]
    assert all(row(conn, mid)["status"] == "sent" for mid in (quiz, reply, farewell, certificate))
    assert row(conn, broadcast)["status"] == "queued"


async def test_it_keeps_a_held_learners_later_proactive_rows_behind_the_held_one(tservices, conn, clock, twilio_double):
    clock.set(datetime.fromisoformat("2026-03-02T18:30:00+00:00"))
    first = enqueue(conn, ALICE, "Lesson part 1", clock.now(), kind="lesson", idempotency_key="daily:2", proactive=True)
    second = enqueue(
        conn, ALICE, "Lesson part 2", clock.now(), kind="lesson", idempotency_key="daily:2#1", proactive=True
    )
    await _drain(tservices)
    assert twilio_double.accepted == []
    assert row(conn, first)["next_attempt_at"] == "2026-03-03T04:00:00+00:00"
    assert row(conn, second)["status"] == "queued"  # behind the held part, as always
    clock.set(datetime.fromisoformat("2026-03-03T04:00:00+00:00"))
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == ["Lesson part 1", "Lesson part 2"]


async def test_an_answer_never_waits_behind_a_held_scheduled_backing_off_or_waiting_row(
    tservices, conn, clock, twilio_double
):
    clock.set(datetime.fromisoformat("2026-03-02T20:10:00+00:00"))  # 23:10 in Nairobi
    morning = datetime.fromisoformat("2026-03-03T04:00:00+00:00")
    now = clock.now()
    held = enqueue(conn, ALICE, "Broadcast", now, kind="broadcast", idempotency_key="broadcast:9:1", proactive=True)
    scheduled = enqueue(  # a teacher's "send at 07:00 instead"
        conn,
        ALICE,
        "See you at 9",
        now,
        kind="admin",
        idempotency_key="admin:1",
        proactive=True,
        next_attempt_at=morning,
    )
    backing_off = enqueue(
        conn, ALICE, "Your weekly summary", now, kind="summary", proactive=True, idempotency_key="s:1"
    )
    waiting = enqueue(
        conn, ALICE, "Lesson 3", now, kind="lesson", proactive=True, idempotency_key="d:1", status="waiting"
    )
    with transaction(conn):
        conn.execute(
            "UPDATE messages SET status = 'retry', attempts = 1, error_code = '30001', next_attempt_at = ? WHERE id = ?",
            ((now + timedelta(minutes=10)).isoformat(), backing_off),
        )
    await _drain(tservices)  # the broadcast falls due in quiet hours: held until 07:00
    assert twilio_double.accepted == [] and row(conn, held)["next_attempt_at"] == morning.isoformat()

    # The learner asks to pay (the M-PESA prompt, written by the payments code) and asks for the menu.
    texts = Resources.build(tservices.settings).texts
    learner_id = row(conn, held)["learner_id"]
    with transaction(conn):
        pin = notify(
            conn, texts, learner_id, "mpesa_sent", idempotency_key="payments:sent:1", now=now, amount="KES 200"
        )
    menu = enqueue(conn, ALICE, "Here is the menu", now, idempotency_key="in:whatsapp:SM1:out:0")
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == [row(conn, pin)["body"], "Here is the menu"]
    assert "M-PESA PIN" in row(conn, pin)["body"] and row(conn, menu)["status"] == "sent"
    assert [row(conn, mid)["status"] for mid in (held, scheduled, backing_off, waiting)] == [
        "queued",
        "queued",
        "retry",
        "waiting",
    ]
