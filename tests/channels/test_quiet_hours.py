"""The sender holds proactive messages that fall due inside the learner's quiet hours; answers are never held."""

from __future__ import annotations

from datetime import datetime

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.store import transaction
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
    alice = enqueue(conn, ALICE, "This week's broadcast", clock.now(), kind="broadcast", idempotency_key="b:1:1")
    bob = enqueue(conn, BOB, "This week's broadcast", clock.now(), kind="broadcast", idempotency_key="b:1:2")
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
    mid = enqueue(conn, ALICE, "Your daily lesson", clock.now(), kind="lesson", idempotency_key="daily:1")
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
    broadcast = enqueue(conn, ALICE, "Broadcast", clock.now(), kind="broadcast", idempotency_key="b:2:1")
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
    first = enqueue(conn, ALICE, "Lesson part 1", clock.now(), kind="lesson", idempotency_key="daily:2")
    second = enqueue(conn, ALICE, "Lesson part 2", clock.now(), kind="lesson", idempotency_key="daily:2#1")
    await _drain(tservices)
    assert twilio_double.accepted == []
    assert row(conn, first)["next_attempt_at"] == "2026-03-03T04:00:00+00:00"
    assert row(conn, second)["status"] == "queued"  # behind the held part, as always
    clock.set(datetime.fromisoformat("2026-03-03T04:00:00+00:00"))
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == ["Lesson part 1", "Lesson part 2"]
