"""The outbox sender against the local Twilio double: sends, retries, permanent errors, the 24-hour rule."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta

import pytest

from coachbox.channels import outbox, pacing
from coachbox.channels.outbox import backoff_seconds, deliver_due
from coachbox.channels.pacing import reserve_slots
from coachbox.channels.reconcile import reconcile
from coachbox.store import transaction
from tests.conftest import DAYTIME
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    enqueue,
    row,
    tservices,
    twilio_double,
    twilio_settings,
    twilio_settings_for,
)

pytestmark = pytest.mark.anyio
BOB = "whatsapp:+254700000002"


async def _drain(services) -> None:
    while await deliver_due(services):
        pass
    await services.channel.close()


async def test_it_sends_a_reply_with_a_status_callback_tag(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "Karibu!", clock.now())
    await _drain(tservices)
    sent = row(conn, mid)
    assert sent["status"] == "sent" and sent["provider_sid"] == twilio_double.accepted[0].sid
    accepted = twilio_double.accepted[0]
    assert accepted.to == ALICE and accepted.get("From") == "whatsapp:+14155238886"
    assert accepted.get("Body") == "Karibu!"
    assert accepted.get("StatusCallback") == f"https://coach.example.org/webhooks/twilio/status?m={mid}"


async def test_it_sends_sms_learners_from_the_sms_number(tservices, conn, clock, twilio_double):
    enqueue(conn, "sms:+254700000009", "hello", clock.now())
    await _drain(tservices)
    assert twilio_double.accepted[0].to == "+254700000009"
    assert twilio_double.accepted[0].get("From") == "+14155238000"


@pytest.mark.parametrize("status,code", [(429, 20429), (500, None)])
async def test_it_retries_with_backoff_on_429_and_500(tservices, conn, clock, twilio_double, status, code, monkeypatch):
    monkeypatch.setattr(pacing, "PAUSE_MAX_SECONDS", 0.05)  # the brake for everyone: tested on its own below
    mid = enqueue(conn, ALICE, "hi", clock.now())
    twilio_double.fail_next(2, status=status, code=code, retry_after=30 if status == 429 else None)
    await _drain(tservices)
    first = row(conn, mid)
    assert first["status"] == "retry" and first["attempts"] == 1
    delay = (datetime.fromisoformat(first["next_attempt_at"]) - clock.now()).total_seconds()
    assert delay >= (30 if status == 429 else 1)  # Retry-After honoured, otherwise >= half the 2 s base
    assert await deliver_due(tservices) == 0  # not due yet
    clock.advance(seconds=delay)
    await _drain(tservices)
    second = row(conn, mid)
    assert second["status"] == "retry" and second["attempts"] == 2
    later = (datetime.fromisoformat(second["next_attempt_at"]) - clock.now()).total_seconds()
    clock.advance(seconds=later)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["attempts"] == 3
    assert len(twilio_double.accepted) == 1


async def test_a_429_pauses_every_send_not_just_the_one_that_got_it(settings, conn, clock, twilio_double):
    """Twilio's 429 (20429) is about the account's pace: the other sends of the batch wait out the brake
    (Retry-After, capped) instead of hammering on at full rate; the refused message retries on its own backoff."""
    from coachbox.channels.twilio.transport import TwilioChannel
    from coachbox.roots.services import build_services

    s = twilio_settings_for(settings, twilio_double.url, messages_per_second=10.0)  # 100 ms apart
    services = build_services(s, clock=clock, channel=TwilioChannel(s))
    try:
        refused = enqueue(conn, ALICE, "first", clock.now())
        others = [enqueue(conn, f"whatsapp:+25471000000{n}", f"message {n}", clock.now()) for n in range(3)]
        twilio_double.fail_next(1, status=429, code=20429, retry_after=0.6)
        started = time.time()
        await _drain(services)
        assert row(conn, refused)["status"] == "retry" and row(conn, refused)["error_code"] == "20429"
        assert [row(conn, mid)["status"] for mid in others] == ["sent"] * 3
        # Unpaused, the three would have left at +0.1, +0.2 and +0.3 s; paused, none before +0.6 s, then 10/s.
        times = sorted(m.at - started for m in twilio_double.accepted)
        assert len(times) == 3 and times[0] >= 0.55, times
        assert all(b - a >= 0.08 for a, b in zip(times, times[1:])), times  # the cap still holds after the pause
        assert pacing.paused_until(services.cache) <= time.time()
    finally:
        services.close_sync()


async def test_a_send_that_keeps_meeting_pauses_hands_its_row_back_uncounted(
    tservices, conn, clock, twilio_double, monkeypatch
):
    """A claim must never wait so long that a reconcile could judge it stale (and send the row twice)."""
    monkeypatch.setattr(outbox, "PAUSED_SEND_MAX_WAIT_SECONDS", -1.0)
    mid = enqueue(conn, ALICE, "hi", clock.now())
    tservices.cache.set(pacing.PAUSE_KEY, time.time() + 1.0)  # a pause that began after this send took its slot
    await _drain(tservices)
    handed_back = row(conn, mid)
    assert handed_back["status"] == "retry" and handed_back["attempts"] == 0
    assert handed_back["error_message"] == "sending paused: Twilio answered 429"
    assert 0 < (datetime.fromisoformat(handed_back["next_attempt_at"]) - clock.now()).total_seconds() <= 1.0
    assert twilio_double.accepted == []


def test_a_429_brake_is_capped_and_pushes_the_shared_rate_bucket(tservices):
    cache = tservices.cache
    until = pacing.pause_sending(cache, 3600)  # a silly Retry-After must not stop replies for an hour
    assert until - time.time() <= pacing.PAUSE_MAX_SECONDS
    assert reserve_slots(cache, 1, 1000.0) >= until - 0.001
    assert pacing.pause_sending(cache, None) >= time.time()  # no Retry-After: the default brake


def test_it_backs_off_exponentially_with_jitter_up_to_a_cap():
    rng = random.Random(7)
    delays = [backoff_seconds(n, rng=rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(outbox.BACKOFF_CAP_SECONDS, outbox.BACKOFF_BASE_SECONDS * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert backoff_seconds(1, retry_after=45) == 45


async def test_it_records_a_permanent_error_and_never_retries_it(tservices, conn, clock, twilio_double):
    twilio_double.fail_for(ALICE, status=400, code=21211, message="The 'To' number is not a valid phone number.")
    mid = enqueue(conn, ALICE, "hi", clock.now())
    await _drain(tservices)
    failed = row(conn, mid)
    assert failed["status"] == "failed" and failed["error_code"] == "21211" and failed["attempts"] == 1
    assert "not a valid phone number" in failed["error_message"]
    clock.advance(hours=2)
    assert await deliver_due(tservices) == 0
    assert twilio_double.accepted == []


async def test_it_opts_the_learner_out_on_21610(tservices, conn, clock, twilio_double):
    twilio_double.fail_for(ALICE, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    mid = enqueue(conn, ALICE, "hi", clock.now())
    await _drain(tservices)
    assert row(conn, mid)["status"] == "failed"
    assert (
        conn.execute("SELECT opted_out FROM learners WHERE id = ?", (row(conn, mid)["learner_id"],)).fetchone()[0] == 1
    )


async def test_it_gives_up_after_the_retry_horizon(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "hi", clock.now())
    twilio_double.fail_next(1000, status=503, code=None)
    for _ in range(40):
        await _drain(tservices)
        current = row(conn, mid)
        if current["status"] != "retry":
            break
        clock.set(datetime.fromisoformat(current["next_attempt_at"]))
    assert row(conn, mid)["status"] == "failed"
    assert clock.now() - datetime.fromisoformat(row(conn, mid)["created_at"]) <= timedelta(minutes=60)


async def test_it_sends_free_form_inside_the_24_hour_window_and_the_template_outside(
    settings, conn, clock, twilio_double
):
    from coachbox.channels.twilio.transport import TwilioChannel
    from coachbox.roots.services import build_services

    s = twilio_settings_for(settings, twilio_double.url, templates={"lesson": "HX" + "1" * 32})
    services = build_services(s, clock=clock, channel=TwilioChannel(s))
    try:
        fresh = enqueue(
            conn,
            ALICE,
            "Lesson 2 is ready",
            clock.now(),
            kind="lesson",
            last_inbound_at=clock.now() - timedelta(hours=23),
        )
        stale = enqueue(
            conn,
            BOB,
            "Lesson 2 is ready",
            clock.now(),
            kind="lesson",
            last_inbound_at=clock.now() - timedelta(hours=25),
            content_variables={"1": "Bob"},
        )
        nudge = enqueue(
            conn,
            "whatsapp:+254700000003",
            "We miss you",
            clock.now(),
            kind="reminder",
            last_inbound_at=clock.now() - timedelta(days=3),
        )
        await _drain(services)
        by_to = {m.to: m for m in twilio_double.accepted}
        assert by_to[ALICE].get("Body") == "Lesson 2 is ready" and by_to[ALICE].get("ContentSid") is None
        assert by_to[BOB].get("ContentSid") == "HX" + "1" * 32
        assert by_to[BOB].get("ContentVariables") == '{"1": "Bob"}' and by_to[BOB].get("Body") is None
        assert row(conn, fresh)["status"] == "sent" and row(conn, stale)["content_sid"] == "HX" + "1" * 32
        waiting = row(conn, nudge)
        assert (
            waiting["status"] == "waiting" and "no [twilio.templates] entry for 'reminder'" in waiting["error_message"]
        )
        assert "whatsapp:+254700000003" not in by_to
    finally:
        services.close_sync()


async def test_it_switches_to_the_template_after_63016(settings, conn, clock, twilio_double):
    from coachbox.channels.twilio.transport import TwilioChannel
    from coachbox.roots.services import build_services

    s = twilio_settings_for(settings, twilio_double.url, templates={"reply": "HX" + "2" * 32})
    services = build_services(s, clock=clock, channel=TwilioChannel(s))
    try:
        mid = enqueue(conn, ALICE, "hi", clock.now())  # our clock says inside the window; WhatsApp disagrees
        twilio_double.fail_next(1, status=400, code=63016, message="outside the allowed window")
        await _drain(services)
        sent = row(conn, mid)
        assert sent["status"] == "sent" and sent["use_template"] == 1 and sent["content_sid"] == "HX" + "2" * 32
        assert [m.get("ContentSid") for m in twilio_double.accepted] == ["HX" + "2" * 32]
    finally:
        services.close_sync()


async def test_it_fails_63016_when_no_template_is_configured(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "hi", clock.now())
    twilio_double.fail_next(1, status=400, code=63016, message="outside the allowed window")
    await _drain(tservices)
    assert row(conn, mid)["status"] == "failed" and row(conn, mid)["error_code"] == "63016"


@pytest.mark.at(DAYTIME)  # outside quiet hours: the sender looks at the row at once, not at 07:00
async def test_it_cancels_proactive_messages_to_opted_out_learners(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "Daily lesson", clock.now(), kind="lesson", opted_out=True, proactive=True)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "cancelled" and twilio_double.accepted == []
    assert row(conn, mid)["error_message"] == "the learner opted out (STOP)"


@pytest.mark.at(DAYTIME)
async def test_it_still_answers_an_opted_out_learner(tservices, conn, clock, twilio_double):
    # STOP stops what the box starts, not an answer: the confirmation of STOP itself, the goodbye after DELETE.
    stop = enqueue(conn, ALICE, "You will get no more lessons.", clock.now(), idempotency_key="in:whatsapp:SM9:out:0")
    bye = enqueue(conn, ALICE, "Goodbye", clock.now(), kind="farewell", idempotency_key="in:whatsapp:SMa:out:0")
    with transaction(conn):
        conn.execute("UPDATE learners SET opted_out = 1")
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == ["You will get no more lessons.", "Goodbye"]
    assert row(conn, stop)["status"] == "sent" and row(conn, bye)["status"] == "sent"


async def test_it_splits_long_bodies_and_sends_the_parts_in_order(tservices, conn, clock, twilio_double):
    paragraphs = [f"Paragraph {i}. " + "Mobile money is safe when your PIN stays secret. " * 12 for i in range(6)]
    mid = enqueue(conn, ALICE, "\n\n".join(paragraphs), clock.now(), idempotency_key="lesson:1")
    twilio_double.fail_next(1, status=500)  # the first part fails once: later parts must wait for it
    await _drain(tservices)
    assert twilio_double.accepted == []
    clock.advance(minutes=1)
    await _drain(tservices)
    bodies = [m.get("Body") for m in twilio_double.accepted]
    assert len(bodies) >= 3 and all(len(b) <= 1600 for b in bodies)
    assert bodies[0].startswith("Paragraph 0.") and bodies[-1].rstrip().endswith("secret.")
    assert [b.split(".")[0] for b in bodies] == sorted(b.split(".")[0] for b in bodies)
    keys = [r[0] for r in conn.execute("SELECT idempotency_key FROM messages WHERE direction='out' ORDER BY id")]
    assert keys[0] == "lesson:1" and keys[1] == "lesson:1#1" and row(conn, mid)["status"] == "sent"


async def test_it_confirms_a_crashed_send_that_twilio_accepted_instead_of_resending(
    tservices, conn, clock, twilio_double
):
    mid = enqueue(conn, ALICE, "only once", clock.now())
    with transaction(conn):  # a sender claimed it, sent it, and died before recording the sid
        conn.execute(
            "UPDATE messages SET status='sending', attempts=1, claimed_at=?, claimed_by='elsewhere:1:x' WHERE id=?",
            (clock.now().isoformat(), mid),
        )
    accepted = twilio_double.accept(ALICE, "only once", tag=str(mid))
    clock.advance(minutes=3)
    assert await reconcile(tservices) == 1
    await _drain(tservices)
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["provider_sid"] == accepted.sid
    assert len(twilio_double.accepted) == 1


async def test_it_resends_a_crashed_claim_that_never_reached_twilio(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "lost in flight", clock.now())
    twilio_double.accept(ALICE, "an older, different message")
    with transaction(conn):
        conn.execute(
            "UPDATE messages SET status='sending', attempts=1, claimed_at=?, claimed_by='elsewhere:1:x' WHERE id=?",
            (clock.now().isoformat(), mid),
        )
    assert await reconcile(tservices) == 0  # another box's fresh claim: left alone
    clock.advance(minutes=3)
    assert await reconcile(tservices) == 1
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == ["an older, different message", "lost in flight"]
    assert row(conn, mid)["status"] == "sent"


async def test_it_looks_up_a_timed_out_send_before_retrying(tservices, conn, clock, twilio_double):
    tservices.channel.timeout = 0.5
    mid = enqueue(conn, ALICE, "slow network", clock.now())
    twilio_double.fail_next(1, hang=1.0, accept=True)  # Twilio took it, the answer never came back
    await _drain(tservices)
    assert row(conn, mid)["status"] == "retry" and row(conn, mid)["error_code"] == "timeout"
    clock.advance(minutes=5)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "sent"
    assert len(twilio_double.accepted) == 1


def test_it_spaces_reserved_slots_across_callers(tservices):
    first = reserve_slots(tservices.cache, 5, 10.0, key="test:slots")
    second = reserve_slots(tservices.cache, 5, 10.0, key="test:slots")
    assert second == pytest.approx(first + 0.5, abs=1e-6)


async def test_it_looks_up_a_send_that_got_a_5xx_after_twilio_took_it(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "taken, then a 500", clock.now())
    twilio_double.fail_next(1, status=500, accept=True)  # a 5xx does not prove Twilio did not take it
    await _drain(tservices)
    assert row(conn, mid)["status"] == "retry" and row(conn, mid)["error_code"] == "500"
    clock.advance(minutes=5)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["provider_sid"] == twilio_double.accepted[0].sid
    assert len(twilio_double.accepted) == 1


async def test_it_waits_for_twilio_to_settle_before_looking_up_an_unsure_send(tservices, conn, clock, twilio_double):
    tservices.channel.timeout = 0.3
    mid = enqueue(conn, ALICE, "still in flight", clock.now())
    # Twilio is still working on the request when our client gives up; it records it a second later.
    twilio_double.fail_next(1, status=500, hang=1.0, accept_late=True)
    await _drain(tservices)
    unsure = row(conn, mid)
    assert unsure["status"] == "retry" and unsure["error_code"] == "timeout"
    delay = (datetime.fromisoformat(unsure["next_attempt_at"]) - clock.now()).total_seconds()
    assert delay >= outbox.UNSURE_SETTLE_SECONDS
    clock.advance(seconds=5)  # an ordinary backoff would retry (and look up too early) now
    assert await deliver_due(tservices) == 0
    await asyncio.sleep(1.0)
    clock.advance(seconds=delay)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "sent"
    assert len(twilio_double.accepted) == 1


async def test_it_does_not_send_a_claim_that_was_released_while_it_waited_for_its_slot(
    tservices, conn, clock, twilio_double
):
    mid = enqueue(conn, ALICE, "slow slot", clock.now())
    tservices.cache.set(pacing.RATE_KEY, time.time() + 0.6)  # other senders hold the next 0.6 s of slots
    waiting = asyncio.create_task(deliver_due(tservices))
    await asyncio.sleep(0.2)
    assert row(conn, mid)["status"] == "sending"
    clock.advance(minutes=3)  # the claim now looks stale: a reconcile releases it, another drain re-claims it
    assert await reconcile(tservices) == 1
    again = asyncio.create_task(deliver_due(tservices))
    await asyncio.gather(waiting, again)
    await tservices.channel.close()
    assert row(conn, mid)["status"] == "sent"
    assert len(twilio_double.accepted) == 1


async def test_it_settles_an_unsure_send_from_its_status_callback(tservices, conn, clock, twilio_double):
    from coachbox.channels.twilio.status import StatusUpdate, apply_status

    tservices.channel.timeout = 0.3
    mid = enqueue(conn, ALICE, "answer lost", clock.now())
    twilio_double.fail_next(1, status=500, hang=0.6, accept=True)
    await _drain(tservices)
    assert row(conn, mid)["status"] == "retry"
    sid = twilio_double.accepted[0].sid
    apply_status(conn, StatusUpdate(sid=sid, status="sent", message_id=mid), clock.now().isoformat())
    clock.advance(minutes=5)
    assert await deliver_due(tservices) == 0
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["provider_sid"] == sid
    assert len(twilio_double.accepted) == 1


async def test_it_sends_each_message_exactly_once_when_twilio_fails_at_random(
    tservices, conn, clock, twilio_double, monkeypatch
):
    monkeypatch.setattr(pacing, "PAUSE_MAX_SECONDS", 0.05)  # keep the 429 brakes short: this is about duplicates
    tservices.channel.timeout = 1.0
    ids = [enqueue(conn, f"whatsapp:+2547100{n:05d}", f"message {n}", clock.now()) for n in range(120)]
    twilio_double.chaos(0.25, seed=3)  # 429s, 500s before and after taking the message, hangs past the timeout
    for _ in range(12):
        await _drain(tservices)
        if all(row(conn, mid)["status"] == "sent" for mid in ids):
            break
        clock.advance(minutes=1)
    assert [row(conn, mid)["status"] for mid in ids] == ["sent"] * len(ids)
    assert twilio_double.duplicates() == {} and len(twilio_double.accepted) == len(ids)
