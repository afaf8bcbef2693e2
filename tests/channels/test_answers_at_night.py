"""A learner who writes during quiet hours is answered at once, whatever the box holds for them until morning; the
goodbye after DELETE + YES reaches WhatsApp. The real app (signed Twilio webhooks, the real conversation turn, the
real broadcast fan-out) and its sender, against the Twilio double."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.content.importer import import_folder
from coachbox.roots.app import create_app
from coachbox.schedule.broadcasts import run_broadcasts
from coachbox.schedule.coach import Coach
from coachbox.store import broadcasts, transaction
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    inbound_form,
    row,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio
NIGHT = datetime.fromisoformat("2026-03-02T20:10:00+00:00")  # Monday 23:10 in Nairobi: quiet hours (21:00-07:00)
MORNING = "2026-03-03T04:00:00+00:00"  # 07:00 in Nairobi: the end of those quiet hours


@pytest.fixture
def night_app(twilio_settings, tservices, conn, clock):
    """The real app on the Twilio double, with the real conversation turn and the sample courses."""
    clock.set(NIGHT)
    import_folder(conn, twilio_settings.content_dir, twilio_settings, progress=None)
    tservices.inbound_handler = None  # the webhook runs the real turn
    return create_app(twilio_settings, tservices)


def _learner(conn, last_inbound_at: str = "2026-03-02T12:00:00+00:00") -> int:
    """Amina, onboarded on WhatsApp in Nairobi, in the first sample course."""
    with transaction(conn):
        course = conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]
        learner_id = conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, wa_id, name, language, timezone, lesson_time,
                                     status, current_course_id, last_inbound_at, created_at, updated_at)
               VALUES (?, 'whatsapp', '+254700000001', '254700000001', 'Amina', 'en', 'Africa/Nairobi', '07:00',
                       'active', ?, ?, '2026-02-01T00:00:00+00:00', '2026-02-01T00:00:00+00:00')""",
            (ALICE, course, last_inbound_at),
        ).lastrowid
        conn.execute(
            "INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, '2026-02-01T00:00:00+00:00')",
            (learner_id, course),
        )
    return learner_id


_sids = iter(f"SM{n:032d}" for n in range(1, 1000))


async def _write(app, text: str) -> None:
    """The learner sends `text` on WhatsApp: Twilio's signed webhook to the real app."""
    body, headers = signed_request("/webhooks/twilio", inbound_form(sid=next(_sids), body=text))
    _, response = await app.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200


async def _accepted(double, count: int, services=None, timeout: float = 10.0) -> list:
    """What Twilio took, once it holds `count` messages. The app's sender was kicked by the webhook, but the test
    client stops the app after each request (a server would not), and on a loaded box that can come before the
    sender claimed the reply: then the outbox is drained as the worker's periodic drain would."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(double.accepted) < count:
        assert asyncio.get_running_loop().time() < deadline, f"Twilio got {len(double.accepted)} of {count}"
        await asyncio.sleep(0.02)
        if services is not None and not await deliver_due(services):
            await asyncio.sleep(0.05)
    return double.accepted


async def test_a_learner_who_writes_in_quiet_hours_is_answered_at_once_behind_a_held_broadcast(
    night_app, tservices, conn, clock, twilio_double
):
    learner_id = _learner(conn)
    with transaction(conn):
        broadcast_id = broadcasts.create(
            conn, body="School is closed on Friday.", audience="all", scheduled_at=clock.now(), created_by=None,
            now=clock.now(),
        )  # fmt: skip
    report = run_broadcasts(conn, Coach.of(tservices), clock.now())  # the real fan-out, at 23:10 in Nairobi
    assert (report.rows, report.held) == (1, 1)
    [held] = conn.execute("SELECT * FROM messages WHERE kind = 'broadcast'").fetchall()
    assert held["next_attempt_at"] == MORNING and held["proactive"] == 1

    await _write(night_app, "help")  # the learner writes at 23:10: the menu comes now, not at 07:00
    [menu] = await _accepted(twilio_double, 1, tservices)
    assert menu.to == ALICE and "*Menu*" in menu.get("Body")
    await _write(night_app, "mydata")
    mydata = (await _accepted(twilio_double, 2, tservices))[1]
    assert "What we store about you" in mydata.get("Body")

    held = row(conn, held["id"])
    assert held["status"] == "queued" and held["next_attempt_at"] == MORNING and held["attempts"] == 0
    assert held["error_code"] == "quiet_hours"  # the marker the admin words as "held for quiet hours until 07:00"
    clock.set(datetime.fromisoformat(MORNING))
    while await deliver_due(tservices):
        pass
    assert [m.get("Body") for m in twilio_double.accepted][2:] == ["School is closed on Friday."]
    assert row(conn, held["id"])["status"] == "sent"
    assert broadcasts.progress(conn, broadcast_id)["sent"] == 1
    assert learner_id


async def test_the_goodbye_after_delete_and_yes_reaches_whatsapp(night_app, tservices, conn, clock, twilio_double):
    clock.set(datetime.fromisoformat("2026-03-02T09:00:00+00:00"))  # noon in Nairobi: nothing is held
    learner_id = _learner(conn)
    await _write(night_app, "delete")
    [question] = await _accepted(twilio_double, 1, tservices)
    assert "Reply *YES* to delete" in question.get("Body")
    await _write(night_app, "yes")  # the erasure clears the learner's number, opt-in and last message time
    goodbye = (await _accepted(twilio_double, 2, tservices))[1]
    assert goodbye.to == ALICE and "Your data has been erased" in goodbye.get("Body")
    assert goodbye.get("ContentSid") is None  # inside the window the YES opened: free text, no template needed
    [farewell] = conn.execute(
        "SELECT * FROM messages WHERE learner_id = ? AND direction = 'out'", (learner_id,)
    ).fetchall()
    assert farewell["kind"] == "farewell" and farewell["status"] == "sent" and farewell["provider_sid"]
    assert farewell["address"] == f"erased:{learner_id}"  # handed over: the row forgets the number (0010)
    learner = conn.execute("SELECT status, opted_out, phone FROM learners WHERE id = ?", (learner_id,)).fetchone()
    assert tuple(learner) == ("deleted", 1, None)
