"""The box's clock minutes off Twilio's: the look-up before a resend still finds what Twilio took (nothing doubles),
every sid a row went under is kept, and /healthz and `coachbox check` say the clocks differ."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coachbox.channels import clock_skew
from coachbox.channels.outbox import deliver_due
from coachbox.channels.reconcile import reconcile
from coachbox.channels.twilio.status import StatusUpdate, apply_status
from coachbox.core.clock import TEST_NOW_VARIABLE, clock_from_environment
from coachbox.ops.checks import _check_channel, check_clock
from coachbox.store import transaction
from coachbox.store.messages import count_doubled_outbound, doubled_outbound, sends_of
from tests.conftest import clock_environ
from tests.doubles.twilio_double import TwilioDouble
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    enqueue,
    row,
    tservices,
    twilio_settings,
    twilio_settings_for,
)

pytestmark = pytest.mark.anyio

# Twilio's clock minus the box's: Twilio 5 minutes behind (the box ahead: what doubled sends in the chaos runs)
# and 5 minutes ahead.
SKEWS = [pytest.param(timedelta(minutes=-5), id="twilio-5min-behind"), pytest.param(timedelta(minutes=5), id="ahead")]


@pytest.fixture(params=SKEWS)
def skew(request) -> timedelta:
    return request.param


@pytest.fixture
def twilio_double(clock, skew):
    """The double on a clock `skew` away from the box's (its date_created and its Date header)."""
    double = TwilioDouble(now=lambda: clock.now() + skew).start()
    yield double
    double.stop()


async def _drain(services) -> None:
    while await deliver_due(services):
        pass
    await services.channel.close()


async def test_a_timed_out_send_is_found_at_twilio_and_not_sent_again(tservices, conn, clock, twilio_double):
    tservices.channel.timeout = 0.3
    mid = enqueue(conn, ALICE, "answer lost on the way back", clock.now())
    twilio_double.fail_next(1, status=500, hang=0.8, accept=True)  # Twilio took it; the answer never came
    await _drain(tservices)
    assert row(conn, mid)["status"] == "retry" and row(conn, mid)["error_code"] == "timeout"
    clock.advance(minutes=5)  # both clocks move on; the look-up runs before any resend
    await _drain(tservices)
    taken = twilio_double.accepted
    assert len(taken) == 1 and twilio_double.duplicates() == {}
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["provider_sid"] == taken[0].sid
    assert [s["provider_sid"] for s in sends_of(conn, mid)] == [taken[0].sid]


async def test_a_dead_senders_claim_is_found_at_twilio_and_not_sent_again(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "sent, then the sender died", clock.now())
    with transaction(conn):  # a sender claimed it, Twilio took it, the sender died before recording the sid
        conn.execute(
            "UPDATE messages SET status='sending', attempts=1, claimed_at=?, claimed_by='elsewhere:1:x' WHERE id=?",
            (clock.now().isoformat(), mid),
        )
    accepted = twilio_double.accept(ALICE, "sent, then the sender died")  # stamped on Twilio's (skewed) clock
    clock.advance(minutes=3)
    assert await reconcile(tservices) == 1
    await _drain(tservices)
    assert len(twilio_double.accepted) == 1
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["provider_sid"] == accepted.sid


async def test_an_older_message_of_the_same_body_is_not_taken_for_this_one(tservices, conn, clock, twilio_double):
    # Sent by hand from the Twilio console an hour before this row was written: never this row's send.
    twilio_double.accept(ALICE, "Reply 1 for yes", created=twilio_double.now() - timedelta(hours=1))
    tservices.channel.timeout = 0.3
    mid = enqueue(conn, ALICE, "Reply 1 for yes", clock.now())
    twilio_double.fail_next(1, status=500)  # a 5xx: unsure, so looked up first; Twilio did not take it
    await _drain(tservices)
    clock.advance(minutes=5)
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == ["Reply 1 for yes", "Reply 1 for yes"]
    assert row(conn, mid)["provider_sid"] == twilio_double.accepted[1].sid


async def test_the_sender_notes_the_offset_and_healthz_warns(tservices, conn, clock, twilio_double, skew):
    from coachbox.roots.app import create_app

    enqueue(conn, ALICE, "hello", clock.now())
    await _drain(tservices)
    latest = clock_skew.latest(tservices.cache)
    assert latest is not None and latest["offset_seconds"] == pytest.approx(skew.total_seconds(), abs=2)
    app = create_app(tservices.settings, tservices)
    request, response = await app.asgi_client.get("/healthz")
    clock_part = response.json["clock"]
    assert clock_part["ok"] is False and "300 s" in clock_part["warning"]
    assert ("behind" if skew > timedelta(0) else "ahead of") in clock_part["warning"]


async def test_healthz_says_nothing_within_30_seconds(app, services, clock):
    clock_skew.note(services.cache, clock.now() + timedelta(seconds=20), clock.now())
    request, response = await app.asgi_client.get("/healthz")
    assert response.json["clock"]["ok"] is True and "warning" not in response.json["clock"]
    assert response.json["clock"]["offset_seconds"] == 20


def test_check_warns_past_30_seconds(clock):
    assert check_clock(clock.now() + timedelta(seconds=29), clock.now())[0].level == "ok"
    assert check_clock(None, clock.now()) == []
    finding = check_clock(clock.now() - timedelta(minutes=5), clock.now())[0]
    assert finding.level == "warn" and "300 s ahead of Twilio's" in finding.what


def test_coachbox_check_compares_with_twilios_date_header(settings, clock, skew, monkeypatch):
    environ = clock_environ(clock.now())
    monkeypatch.setenv(TEST_NOW_VARIABLE, environ[TEST_NOW_VARIABLE])
    box = clock_from_environment(environ)
    double = TwilioDouble(now=lambda: box.now() + skew).start()
    try:
        findings = _check_channel(twilio_settings_for(settings, double.url))
    finally:
        double.stop()
    clock_findings = [f for f in findings if "clock" in f.what]
    assert len(clock_findings) == 1 and clock_findings[0].level == "warn", findings
    assert "300 s" in clock_findings[0].what


async def test_every_sid_a_row_went_under_is_kept_and_a_second_copy_shows(tservices, conn, clock, twilio_double):
    mid = enqueue(conn, ALICE, "sent twice", clock.now())
    await _drain(tservices)
    second = twilio_double.accepted[0].sid
    # A first send whose answer was lost, and that a look-up did not find, reports in under its own sid.
    first = "SM" + "f" * 32
    apply_status(conn, StatusUpdate(sid=first, status="delivered", message_id=mid), clock.now().isoformat())
    assert row(conn, mid)["provider_sid"] == second  # the row keeps the sid it was recorded with
    assert {s["provider_sid"] for s in sends_of(conn, mid)} == {first, second}
    assert [d["message_id"] for d in doubled_outbound(conn)] == [mid] and count_doubled_outbound(conn) == 1
    # A failed copy is not one the learner got.
    other = enqueue(conn, ALICE, "once", clock.now())
    await _drain(tservices)
    apply_status(conn, StatusUpdate(sid="SM" + "e" * 32, status="failed", message_id=other), clock.now().isoformat())
    assert len(sends_of(conn, other)) == 1 and count_doubled_outbound(conn) == 1


async def test_the_transcript_counts_the_sends(tservices, conn, clock, twilio_double):
    from coachbox.store.messages import transcript_page

    mid = enqueue(conn, ALICE, "sent twice", clock.now())
    await _drain(tservices)
    apply_status(conn, StatusUpdate(sid="SM" + "f" * 32, status="sent", message_id=mid), clock.now().isoformat())
    learner_id = row(conn, mid)["learner_id"]
    assert [(m["id"], m["sends"]) for m in transcript_page(conn, learner_id)] == [(mid, 2)]
