"""TEACHER through the real Twilio webhook and conversation: Twilio's retries of it open one handover, once."""

from __future__ import annotations

import asyncio

import pytest

from coachbox.content.importer import import_folder
from coachbox.core import events
from coachbox.roots.app import create_app
from coachbox.store import handover as handovers
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    inbound_form,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio
AMINA = "whatsapp:+254712345678"


@pytest.fixture
def real_app(twilio_settings, tservices, conn):
    """The app with the real conversation turn (not the echoing stand-in) on the sample courses."""
    import_folder(conn, twilio_settings.content_dir, twilio_settings, progress=None)
    tservices.inbound_handler = None  # the webhook falls back to coachbox.turns.runner.handle_inbound
    return create_app(twilio_settings, tservices)


def _onboarded(conn) -> int:
    course = conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, language, status, current_course_id,
                                 last_inbound_at, created_at, updated_at)
           VALUES (?, 'whatsapp', '+254712345678', 'Amina', 'en', 'active', ?, '2026-03-01T12:00:00+00:00',
                   '2026-02-01T00:00:00+00:00', '2026-02-01T00:00:00+00:00')""",
        (AMINA, course),
    )
    conn.execute(
        "INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, '2026-02-01T00:00:00+00:00')",
        (cursor.lastrowid, course),
    )
    return int(cursor.lastrowid)


async def test_a_replayed_teacher_opens_one_handover_and_answers_once(real_app, conn, tservices):
    learner_id = _onboarded(conn)
    hub = events.hub(tservices)  # the web process's hub: what the admin menu's count follows (admin.menu_count)
    body, headers = signed_request(
        "/webhooks/twilio", inbound_form(sid="SM" + "4" * 32, sender=AMINA, body="TEACHER", ProfileName="Amina")
    )

    async def post() -> int:
        _, response = await real_app.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
        return response.status

    statuses = [await post(), await post()]  # Twilio's first try and a retry, then three at the same time
    statuses += await asyncio.gather(post(), post(), post())
    assert statuses == [200] * 5
    opened = handovers.list_handovers(conn)
    assert [(h.learner_id, h.reason) for h in opened] == [(learner_id, "asked")]
    assert [e.kind for e in handovers.handover_events(conn, opened[0].id)] == ["opened"]
    replies = conn.execute(
        "SELECT body FROM messages WHERE learner_id = ? AND direction = 'out'", (learner_id,)
    ).fetchall()
    assert len(replies) == 1 and "A teacher" in replies[0][0]
    assert hub.generation("inbox") == 1  # the opening turn woke the menus once; the retries did not

    later, headers = signed_request(
        "/webhooks/twilio", inbound_form(sid="SM" + "5" * 32, sender=AMINA, body="my fee went twice")
    )
    _, response = await real_app.asgi_client.post("/webhooks/twilio", content=later, headers=headers)
    assert response.status == 200 and hub.generation("inbox") == 1  # a message to the teacher: no new count
