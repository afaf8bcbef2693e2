"""Say what is really happening: a teacher's message goes now at any hour (or at the end of the learner's quiet
hours, if the teacher says so); a held message is "held for quiet hours until 07:00", never a made-up Twilio error,
in the admin, the API and /metrics; a broadcast's page counts its messages by state and offers Cancel only while
something can still be cancelled. The real app and the real sender (deliver_due) on the Twilio double."""

from __future__ import annotations

from datetime import datetime

import pytest
from sanic_testing.testing import SanicASGITestClient

from coachbox.channels.outbox import deliver_due
from coachbox.roots.app import create_app
from coachbox.schedule.broadcasts import run_broadcasts
from coachbox.schedule.coach import Coach
from coachbox.store import broadcasts, transaction
from tests.admin.conftest import add_learner, signed_in
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    row,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio
NIGHT = datetime.fromisoformat("2026-03-02T20:10:00+00:00")  # Monday 23:10 in Nairobi: quiet hours (21:00-07:00)
MORNING = datetime.fromisoformat("2026-03-03T04:00:00+00:00")  # 07:00 in Nairobi
WROTE = "2026-03-02T19:00:00+00:00"  # the learner wrote at 22:00: WhatsApp's 24-hour window is open


@pytest.fixture
def night(settings, twilio_settings, tservices, conn, clock):
    """The real app on the Twilio double at 23:10 in Nairobi. Served over http like the
    test client (an https public URL would make the admin's cookies Secure, which the client does not send back)."""
    clock.set(NIGHT)
    tservices.settings = twilio_settings.replace(server={"public_url": settings.server.public_url})
    return create_app(tservices.settings, tservices)


@pytest.fixture
def browser(night) -> SanicASGITestClient:
    return SanicASGITestClient(night)


async def _drain(services) -> None:
    while await deliver_due(services):
        pass


def _outbound(conn, learner_id: int) -> list:
    return conn.execute(
        "SELECT * FROM messages WHERE learner_id = ? AND direction = 'out' ORDER BY id", (learner_id,)
    ).fetchall()


async def test_a_teachers_message_goes_now_at_night_or_at_07_00_if_they_say_so(
    browser, cast, conn, clock, tservices, twilio_double
):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    token = await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/learners/{learner_id}")
    assert "It is <strong>23:10</strong> for Amina (Africa/Nairobi)" in page.text
    assert ">Send at 07:00 instead</button>" in page.text and 'value="after_quiet_hours"' in page.text

    _, sent = await browser.post(
        f"/admin/learners/{learner_id}/send",
        data={"body": "Well done today!", "csrf_token": token},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("done=sent")
    await _drain(tservices)
    [now_message] = twilio_double.accepted  # 23:10 where Amina is, and it goes: a person chose to send it now
    assert now_message.to == ALICE and now_message.get("Body") == "Well done today!"

    _, later = await browser.post(
        f"/admin/learners/{learner_id}/send",
        data={"body": "Exam at 9, good luck!", "csrf_token": token, "when": "after_quiet_hours"},
        follow_redirects=False,
    )
    assert later.headers["location"].endswith("done=scheduled_message")
    first, second = _outbound(conn, learner_id)
    assert first["status"] == "sent" and first["proactive"] == 0
    assert second["status"] == "queued" and second["proactive"] == 1
    assert second["next_attempt_at"] == MORNING.isoformat()
    _, page = await browser.get(f"/admin/learners/{learner_id}")
    assert "scheduled for 07:00 tomorrow (Africa/Nairobi)" in page.text
    await _drain(tservices)
    assert len(twilio_double.accepted) == 1  # still night: it waits

    clock.set(MORNING)
    await _drain(tservices)
    assert [m.get("Body") for m in twilio_double.accepted] == ["Well done today!", "Exam at 9, good luck!"]


async def test_the_api_sends_now_and_says_the_learners_local_time(browser, cast, conn, clock, tservices, twilio_double):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    csrf = await signed_in(browser, "alice@school.test")
    _, page = await browser.post("/admin/tokens", data={"name": "crm", "role": "editor", "csrf_token": csrf})
    headers = {"Authorization": "Bearer " + page.text.split('readonly value="')[1].split('"')[0]}
    _, response = await browser.post(
        f"/api/v1/learners/{learner_id}/messages", json={"body": "Well done today!"}, headers=headers
    )
    assert response.status_code == 202
    data = response.json["data"]
    assert data["learner_time"] == {
        "local": "23:10",
        "timezone": "Africa/Nairobi",
        "quiet_hours": True,
        "quiet_hours_end": MORNING.isoformat(),
    }
    assert data["state"]["name"] == "due"
    await _drain(tservices)
    [sent] = twilio_double.accepted
    assert sent.get("Body") == "Well done today!"

    _, response = await browser.post(
        f"/api/v1/learners/{learner_id}/messages",
        json={"body": "Exam at 9", "send_at": "after_quiet_hours"},
        headers=headers,
    )
    assert response.json["data"]["state"]["name"] == "scheduled"
    assert response.json["data"]["state"]["until"] == MORNING.isoformat()
    _, bad = await browser.post(
        f"/api/v1/learners/{learner_id}/messages", json={"body": "x", "send_at": "whenever"}, headers=headers
    )
    assert bad.status_code == 400


async def test_a_held_message_says_held_until_07_00_and_only_provider_errors_link_to_twilio(
    night, browser, cast, conn, clock, tservices, twilio_double
):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    with transaction(conn):
        conn.execute(  # an earlier message that Twilio really refused
            """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, error_code,
                                     created_at, updated_at)
               VALUES (?, 'out', 'whatsapp', ?, 'Lesson 1', 'lesson', 'failed', '63016', ?, ?)""",
            (learner_id, ALICE, WROTE, WROTE),
        )
        broadcasts.create(
            conn, body="School is closed on Friday.", audience="all", scheduled_at=clock.now(), created_by=None,
            now=clock.now(),
        )  # fmt: skip
    run_broadcasts(conn, Coach.of(tservices), clock.now())  # the real fan-out holds it for Amina's quiet hours
    await _drain(tservices)
    assert twilio_double.accepted == []

    await signed_in(browser, "charlie@school.test")
    _, page = await browser.get(f"/admin/learners/{learner_id}")
    assert "held for quiet hours until 07:00 tomorrow (Africa/Nairobi)" in page.text
    assert "quiet_hours" not in page.text and "Twilio error" not in page.text
    assert "Error 63016: Outside the 24-hour window" in page.text
    assert page.text.count("https://www.twilio.com/docs/api/errors/") == 1  # the real error's page only
    assert 'href="https://www.twilio.com/docs/api/errors/63016"' in page.text

    _, stream = await browser.get(f"/admin/events/learners/{learner_id}?once=1")
    assert "held for quiet hours until 07:00 tomorrow" in stream.text and "quiet_hours" not in stream.text

    owner = SanicASGITestClient(night)
    csrf = await signed_in(owner, "alice@school.test")
    _, tokens = await owner.post("/admin/tokens", data={"name": "crm", "role": "viewer", "csrf_token": csrf})
    headers = {"Authorization": "Bearer " + tokens.text.split('readonly value="')[1].split('"')[0]}
    _, listing = await owner.get(f"/api/v1/learners/{learner_id}/messages", headers=headers)
    failed, held = listing.json["data"]
    assert held["state"]["name"] == "held" and held["state"]["until"] == MORNING.isoformat()
    assert held["state"]["text"] == "held for quiet hours until 07:00 tomorrow (Africa/Nairobi)"
    assert held["state"]["error"] is None and held["error_code"] is None
    assert failed["state"]["error"] == {
        "code": "63016",
        "message": "Error 63016: Outside the 24-hour window: only an approved template may be sent (configure "
        "[twilio.templates]).",
        "link": "https://www.twilio.com/docs/api/errors/63016",
    }

    _, metrics = await night.asgi_client.get("/metrics")
    assert 'coachbox_outbox_pending{state="held"} 1' in metrics.text
    assert 'coachbox_outbox_pending{state="due"} 0' in metrics.text
    assert "held = held for quiet hours" in metrics.text


async def test_a_broadcasts_page_counts_by_state_and_offers_cancel_while_something_can_be_cancelled(
    browser, cast, conn, clock, tservices, twilio_double
):
    add_learner(conn, name="Amina", phone="+254700000001", last_inbound_at=WROTE)  # 23:10: quiet
    london = add_learner(conn, name="Ben", phone="+447700900002", last_inbound_at=WROTE)  # 20:10: not quiet
    with transaction(conn):
        conn.execute("UPDATE learners SET timezone = 'Europe/London' WHERE id = ?", (london,))
        broadcast_id = broadcasts.create(
            conn, body="School is closed on Friday.", audience="all", scheduled_at=clock.now(), created_by=None,
            now=clock.now(),
        )  # fmt: skip
    run_broadcasts(conn, Coach.of(tservices), clock.now())
    await _drain(tservices)
    assert [m.to for m in twilio_double.accepted] == ["whatsapp:+447700900002"]

    await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/broadcasts/{broadcast_id}")
    assert "queued for every learner; 1 not sent yet" in page.text  # not "done" while Amina's waits
    assert '<b data-key="held">1</b><span>held for quiet hours</span>' in page.text
    assert '<b data-key="sent">1</b>' in page.text
    assert "1 held until 07:00 tomorrow (Africa/Nairobi)" in page.text
    assert "must be running" not in page.text  # the worker did its part: the message waits for 07:00
    assert "Cancel broadcast" in page.text
    _, stream = await browser.get(f"/admin/events/broadcasts/{broadcast_id}?once=1")
    assert '"held": "1"' in stream.text and "1 until 07:00 tomorrow (Africa/Nairobi)" in stream.text

    clock.set(MORNING)
    await _drain(tservices)
    _, page = await browser.get(f"/admin/broadcasts/{broadcast_id}")
    assert '<b data-key="sent">2</b>' in page.text and "finished" in page.text
    assert "Cancel broadcast" not in page.text  # nothing left to stop


async def test_cancel_stops_a_fanned_out_broadcasts_held_messages(browser, cast, conn, clock, tservices):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    with transaction(conn):
        broadcast_id = broadcasts.create(
            conn, body="News", audience="all", scheduled_at=clock.now(), created_by=None, now=clock.now()
        )
    run_broadcasts(conn, Coach.of(tservices), clock.now())
    token = await signed_in(browser, "bob@school.test")
    _, done = await browser.post(
        f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303
    [held] = _outbound(conn, learner_id)
    assert held["status"] == "cancelled" and held["error_code"] is None
    _, again = await browser.post(f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": token})
    assert again.status_code == 400


async def test_a_broadcast_sent_now_in_quiet_hours_says_first_who_gets_it_when(browser, cast, conn, clock):
    add_learner(conn, name="Amina", phone="+254700000001")
    london = add_learner(conn, name="Ben", phone="+447700900002")
    conn.execute("UPDATE learners SET timezone = 'Europe/London' WHERE id = ?", (london,))
    token = await signed_in(browser, "bob@school.test")
    form = {"csrf_token": token, "body": "School is closed on Friday.", "audience": "all", "when": ""}
    _, page = await browser.post("/admin/broadcasts", data=form)
    assert page.status_code == 200
    assert "1 of 2 recipients are in their quiet hours now" in page.text
    assert "1 at 07:00 tomorrow (Africa/Nairobi)" in page.text and "The other 1 get it now." in page.text
    assert 'name="quiet_ok" value="yes"' in page.text and ">Send anyway</button>" in page.text
    assert conn.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0  # nothing sent before they confirm
    _, sent = await browser.post("/admin/broadcasts", data={**form, "quiet_ok": "yes"}, follow_redirects=False)
    assert sent.status_code == 303
    assert conn.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 1


async def test_the_local_time_line_escapes_the_learners_name(browser, cast, conn):
    learner_id = add_learner(conn, name='<script>alert("x")</script>', last_inbound_at=WROTE)
    await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/learners/{learner_id}")
    assert "for &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; (Africa/Nairobi)" in page.text
    assert '<script>alert("x")' not in page.text
