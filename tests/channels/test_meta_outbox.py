"""The outbox on Meta's Cloud API: the 24-hour window and templates, 131047, retries, permanent errors, pacing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.channels.sender import drain
from tests.doubles.meta_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    ALICE_WA,
    meta_double,
    meta_settings,
    meta_settings_for,
    mservices,
)
from tests.doubles.twilio_fixtures import enqueue, row

pytestmark = pytest.mark.anyio


@pytest.fixture
def templated(settings, meta_double, conn, clock):
    """Services whose [meta.templates] has the lesson nudge and the reminder."""
    from coachbox.channels.meta.transport import MetaChannel
    from coachbox.jobs.queue import create_huey
    from coachbox.roots.services import build_services

    configured = meta_settings_for(
        settings,
        meta_double.url,
        templates={
            "reminder": "daily_reminder_v2",
            "lesson_nudge": {"name": "lesson_ready", "language": "sw"},
            "certificate": {"name": "certificate_ready", "header": "document"},
        },
    )
    built = build_services(
        configured, clock=clock, channel=MetaChannel(configured), huey=create_huey(configured, immediate=True)
    )
    yield built
    built.close_sync()


async def test_text_goes_with_preview_only_when_it_has_a_link(mservices, conn, clock, meta_double):
    enqueue(conn, ALICE, "plain words", clock.now())
    enqueue(conn, ALICE, "see https://example.org", clock.now())
    await drain(mservices, seconds=5)
    previews = [s.payload["text"]["preview_url"] for s in meta_double.sent]
    assert previews == [False, True]


async def test_outside_the_window_a_configured_template_goes_with_its_body_parameters(
    templated, conn, clock, meta_double
):
    day_ago = clock.now() - timedelta(hours=25)
    enqueue(
        conn,
        ALICE,
        "Hi Amina, your reminder",
        clock.now(),
        kind="reminder",
        last_inbound_at=day_ago,
        content_variables={"1": "Amina", "2": "What is mobile money?"},
    )
    await drain(templated, seconds=5)
    template = meta_double.sent[0].payload["template"]
    assert template["name"] == "daily_reminder_v2" and template["language"] == {"code": "en"}
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Amina"}, {"type": "text", "text": "What is mobile money?"}],
        }
    ]


async def test_outside_the_window_without_a_template_the_message_waits_with_a_reason(
    mservices, conn, clock, meta_double
):
    message_id = enqueue(
        conn, ALICE, "summary", clock.now(), kind="summary", last_inbound_at=clock.now() - timedelta(days=2)
    )
    await drain(mservices, seconds=5)
    assert meta_double.sent == []
    stored = row(conn, message_id)
    assert stored["status"] == "waiting" and "[meta.templates] entry for 'summary'" in stored["error_message"]


async def test_131047_switches_the_message_to_its_template(templated, conn, clock, meta_double):
    message_id = enqueue(conn, ALICE, "Your lesson is ready", clock.now(), kind="lesson_nudge")
    meta_double.fail_next(code=131047)
    await drain(templated, seconds=5)
    sent = meta_double.sent
    assert len(sent) == 1 and sent[0].payload["template"]["name"] == "lesson_ready"
    assert sent[0].payload["template"]["language"] == {"code": "sw"}
    assert row(conn, message_id)["status"] == "sent" and row(conn, message_id)["use_template"] == 1


@pytest.mark.parametrize("code", [130429, 131056, 131000, 190])
async def test_rate_limits_server_errors_and_a_refused_token_are_retried_with_backoff(
    mservices, conn, clock, meta_double, code
):
    message_id = enqueue(conn, ALICE, "hello", clock.now())
    meta_double.fail_next(code=code)
    await deliver_due(mservices)
    stored = row(conn, message_id)
    assert (stored["status"], stored["error_code"]) == ("retry", str(code))
    assert stored["next_attempt_at"] > clock.now().isoformat()
    clock.advance(minutes=11)
    await deliver_due(mservices)
    assert row(conn, message_id)["status"] == "sent" and len(meta_double.sent) == 1


async def test_a_network_failure_is_retried(mservices, conn, clock, meta_double):
    message_id = enqueue(conn, ALICE, "hello", clock.now())
    meta_double.stop()
    await deliver_due(mservices)
    assert (row(conn, message_id)["status"], row(conn, message_id)["error_code"]) == ("retry", "network")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (131026, "could not deliver"),
        (131051, "does not support this message type"),
        (368, "temporarily blocked"),
        (131031, "restricted or disabled"),
        (100, "refused a parameter"),
    ],
)
async def test_permanent_errors_fail_at_once_with_their_meaning(mservices, conn, clock, meta_double, code, words):
    message_id = enqueue(conn, ALICE, "hello", clock.now())
    meta_double.fail_next(code=code)
    await deliver_due(mservices)
    stored = row(conn, message_id)
    assert (stored["status"], stored["error_code"]) == ("failed", str(code))
    assert words in stored["error_message"]
    clock.advance(hours=1)
    assert await deliver_due(mservices) == 0 and meta_double.sent == []


async def test_media_go_by_their_signed_link_with_the_body_as_caption(mservices, conn, clock, meta_double):
    enqueue(conn, ALICE, "Your certificate", clock.now(), kind="certificate", media=("certificates/ABC123.pdf",))
    await drain(mservices, seconds=5)
    sent = meta_double.sent[0].payload
    assert sent["type"] == "document" and sent["document"]["caption"] == "Your certificate"
    assert sent["document"]["filename"] == "ABC123.pdf"
    link = sent["document"]["link"]
    assert link.startswith("https://coach.example.org/media/") and link.endswith("/certificates/ABC123.pdf")


async def test_a_131047_status_for_a_sent_message_requeues_it_as_its_template(templated, conn, clock, meta_double):
    from coachbox.channels.meta.status import apply_statuses
    from coachbox.channels.meta.webhook import MetaStatus
    from coachbox.channels.outbox import template_sid

    message_id = enqueue(conn, ALICE, "Your lesson is ready", clock.now(), kind="lesson_nudge")
    await drain(templated, seconds=5)
    wamid = row(conn, message_id)["provider_sid"]
    failed = MetaStatus(wamid, "failed", error_code="131047", message_id=message_id)
    results = apply_statuses(
        conn, [failed], clock.now().isoformat(), lambda k: template_sid(templated.settings, k) is not None
    )
    assert results == ["requeued"]
    await drain(templated, seconds=5)
    assert meta_double.sent[-1].payload["template"]["name"] == "lesson_ready"
    assert row(conn, message_id)["status"] == "sent"


async def test_a_template_with_a_document_header_carries_the_pdf(templated, conn, clock, meta_double):
    enqueue(
        conn,
        ALICE,
        "Congratulations",
        clock.now(),
        kind="certificate",
        last_inbound_at=clock.now() - timedelta(days=3),
        media=("certificates/ABC123.pdf",),
        content_variables={"1": "Amina", "2": "Mobile Money Safety"},
    )
    await drain(templated, seconds=5)
    header, body = meta_double.sent[0].payload["template"]["components"]
    document = header["parameters"][0]["document"]
    assert (
        header["type"] == "header" and document["filename"] == "ABC123.pdf" and document["link"].startswith("https://")
    )
    assert [p["text"] for p in body["parameters"]] == ["Amina", "Mobile Money Safety"]
