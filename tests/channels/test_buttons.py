"""Quick-reply buttons: a reply's 2-3 options as the quick_reply_N Content template, numbered text otherwise."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from coachbox.channels.buttons import with_buttons
from coachbox.channels.outbox import deliver_due
from coachbox.store.messages import OutboxDraft
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    enqueue,
    inbound_form,
    row,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings_for,
)

pytestmark = pytest.mark.anyio
QR2, QR3, REPLY = "HX" + "2" * 32, "HX" + "3" * 32, "HX" + "9" * 32
TEMPLATES = {"quick_reply_2": QR2, "quick_reply_3": QR3}


def test_it_turns_two_or_three_short_options_into_a_quick_reply_template():
    draft = with_buttons(
        OutboxDraft("Which language?\n1. English\n2. Kiswahili"),
        ("English", "Kiswahili"),
        channel="whatsapp",
        templates=TEMPLATES,
    )
    assert draft.template_key == "quick_reply_2"
    assert draft.content_variables == {
        "1": "Which language?\n1. English\n2. Kiswahili",
        "2": "English",
        "3": "Kiswahili",
    }
    three = with_buttons(OutboxDraft("Q1"), ("A", "B", "C"), channel="whatsapp", templates=TEMPLATES)
    assert three.template_key == "quick_reply_3" and three.content_variables == {
        "1": "Q1",
        "2": "A",
        "3": "B",
        "4": "C",
    }


@pytest.mark.parametrize(
    "options,channel,templates,body",
    [
        (("A", "B", "C", "D"), "whatsapp", TEMPLATES, "Q"),  # WhatsApp shows at most 3 in-session buttons
        (("YES",), "whatsapp", TEMPLATES, "Q"),
        (("Yes", "A much longer title than 20"), "whatsapp", TEMPLATES, "Q"),  # WhatsApp's title limit
        (("A", "B"), "whatsapp", TEMPLATES, "x" * 1025),  # a quick-reply body holds 1,024 characters
        (("A", "B"), "sms", TEMPLATES, "Q"),
        (("A", "B"), "simulator", TEMPLATES, "Q"),
        (("A", "B", "C"), "whatsapp", {"quick_reply_2": QR2}, "Q"),  # no template for this count
    ],
)
def test_it_keeps_numbered_text_when_buttons_do_not_fit(options, channel, templates, body):
    draft = OutboxDraft(body)
    assert with_buttons(draft, options, channel=channel, templates=templates) == draft


def test_it_leaves_a_draft_with_its_own_template_alone():
    draft = OutboxDraft("Lesson ready", kind="lesson", template_key="lesson_nudge")
    assert with_buttons(draft, ("QUIZ", "LATER"), channel="whatsapp", templates=TEMPLATES) == draft


def _services(settings, clock, double, templates):
    from coachbox.channels.twilio.transport import TwilioChannel
    from coachbox.roots.services import build_services

    s = twilio_settings_for(settings, double.url, templates=templates)
    return build_services(s, clock=clock, channel=TwilioChannel(s))


async def _drain(services) -> None:
    while await deliver_due(services):
        pass
    await services.channel.close()


async def test_it_sends_buttons_with_content_sid_inside_the_24_hour_window(settings, conn, clock, twilio_double):
    services = _services(settings, clock, twilio_double, TEMPLATES)
    try:
        variables = {"1": "Question 1\n*A* Yes\n*B* No", "2": "A", "3": "B"}
        mid = enqueue(
            conn,
            ALICE,
            variables["1"],
            clock.now(),
            kind="quiz",
            template_key="quick_reply_2",
            content_variables=variables,
        )
        await _drain(services)
        sent = twilio_double.accepted[0]
        assert sent.get("ContentSid") == QR2 and json.loads(sent.get("ContentVariables")) == variables
        assert sent.get("Body") is None
        assert row(conn, mid)["status"] == "sent" and row(conn, mid)["content_sid"] == QR2
    finally:
        services.close_sync()


async def test_it_sends_numbered_text_when_the_template_is_gone_and_the_kinds_template_outside_the_window(
    settings, conn, clock, twilio_double
):
    services = _services(settings, clock, twilio_double, {"quiz": REPLY})  # quick_reply_2 removed from config
    try:
        variables = {"1": "Question 1\n*A* Yes\n*B* No", "2": "A", "3": "B"}
        inside = enqueue(
            conn,
            ALICE,
            variables["1"],
            clock.now(),
            kind="quiz",
            template_key="quick_reply_2",
            content_variables=variables,
        )
        outside = enqueue(
            conn,
            "whatsapp:+254700000002",
            variables["1"],
            clock.now(),
            kind="quiz",
            template_key="quick_reply_2",
            content_variables=variables,
            last_inbound_at=clock.now() - timedelta(hours=25),
        )
        await _drain(services)
        by_to = {m.to: m for m in twilio_double.accepted}
        assert by_to[ALICE].get("Body") == variables["1"] and by_to[ALICE].get("ContentSid") is None
        assert by_to["whatsapp:+254700000002"].get("ContentSid") == REPLY  # the quiz's own, approved template
        assert row(conn, inside)["status"] == row(conn, outside)["status"] == "sent"
    finally:
        services.close_sync()


async def test_it_offers_buttons_through_the_webhook_and_reads_a_tap_as_the_option(
    settings, conn, clock, twilio_double
):
    from coachbox.channels.twilio.transport import TwilioChannel
    from coachbox.content.importer import import_folder
    from coachbox.roots.app import create_app
    from coachbox.roots.services import build_services

    import_folder(conn, settings.content_dir, settings, progress=None)
    s = twilio_settings_for(settings, twilio_double.url, templates=TEMPLATES)
    services = build_services(s, clock=clock, channel=TwilioChannel(s))
    app = create_app(s, services)
    try:
        sids = iter(f"SM{n:032d}" for n in range(1, 100))

        async def say(body: str, **extra) -> None:
            before = len(twilio_double.accepted)
            form_body, headers = signed_request("/webhooks/twilio", inbound_form(next(sids), body=body, **extra))
            _, response = await app.asgi_client.post("/webhooks/twilio", content=form_body, headers=headers)
            assert response.status == 200
            # The web sender was kicked; the test client stops the app after each request (a server would not), and
            # on a loaded box that can come before the sender claimed the replies: drain as the worker's drain would.
            for _ in range(500):
                await asyncio.sleep(0.02)
                await deliver_due(services)
                if (
                    len(twilio_double.accepted) > before
                    and not conn.execute(
                        "SELECT 1 FROM messages WHERE direction='out' AND status IN ('queued','sending')"
                    ).fetchone()
                ):
                    break

        await say("hi")
        await say("yes")  # keeps the WhatsApp profile name: the language question comes next
        question = twilio_double.accepted[-1]
        assert question.get("ContentSid") == QR2, [m.params for m in twilio_double.accepted]
        variables = json.loads(question.get("ContentVariables"))
        assert variables["2"] == "English" and variables["3"] == "Kiswahili"
        # The learner taps "Kiswahili": Twilio posts the button's id (the same variable) and its title.
        await say("Kiswahili", ButtonPayload=variables["3"], ButtonText=variables["3"])
        language = conn.execute("SELECT language FROM learners WHERE channel_key = ?", (ALICE,)).fetchone()[0]
        assert language == "sw"
    finally:
        await services.channel.close()
        services.close_sync()
