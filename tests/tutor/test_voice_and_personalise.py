"""Voice notes transcribed on the same server, and optional lesson personalisation cached per lesson and style."""

from __future__ import annotations

from datetime import UTC, datetime, timezone

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.tutor import personalise, voice
from tests.tutor.conftest import configure


def voice_note(settings, body: str = "") -> Inbound:
    path = settings.data_dir / "media" / "inbound" / "MM1.ogg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"OggS\x00fake opus bytes")
    return Inbound(
        channel="whatsapp",
        address="whatsapp:+254700000001",
        body=body,
        provider_sid="SM1",
        received_at=datetime(2026, 3, 2, 5, tzinfo=UTC),
        media=(InboundMedia(url="https://api.twilio.com/x", content_type="audio/ogg", path="media/inbound/MM1.ogg"),),
    )


def test_it_transcribes_a_voice_note_when_enabled(services, conn, learner, double):
    configure(services, transcribe_voice_notes=True)

    result = voice.transcribe_inbound(services, voice_note(services.settings), learner_id=learner, language="en")

    assert result.reply is None and result.inbound.body == double.transcript
    [request] = double.requests
    assert request["path"] == "/v1/audio/transcriptions"
    assert b'name="model"' in request["raw"] and b"whisper-1" in request["raw"] and b"fake opus bytes" in request["raw"]
    usage = conn.execute("SELECT purpose, model, outcome FROM tutor_usage").fetchone()
    assert tuple(usage) == ("transcription", "whisper-1", "ok")


def test_it_says_only_text_is_understood_when_voice_notes_are_off(services, learner, double):
    result = voice.transcribe_inbound(services, voice_note(services.settings), language="sw")

    assert result.reply.startswith("🎙️ Samahani") and double.requests == []


def test_it_asks_for_text_when_transcription_fails(services, learner, double):
    configure(services, transcribe_voice_notes=True)
    double.mode = "error"

    result = voice.transcribe_inbound(services, voice_note(services.settings), language="en")

    assert "couldn't understand that voice note" in result.reply


def test_it_leaves_text_messages_alone(services, double):
    configure(services, transcribe_voice_notes=True)
    inbound = voice_note(services.settings, body="a caption")

    assert voice.transcribe_inbound(services, inbound).inbound is inbound and double.requests == []


def test_it_sends_lessons_as_written_unless_personalisation_is_on(services, conn, courses, double):
    lesson_id, body = conn.execute("SELECT id, body FROM lessons WHERE slug = 'keep-your-pin-secret'").fetchone()

    assert personalise.personalised_body(services, lesson_id, style="stories") == body
    assert double.requests == []


def test_it_personalises_once_per_lesson_and_style(services, conn, courses, double):
    configure(services, personalise_lessons=True)
    lesson_id = conn.execute("SELECT id FROM lessons WHERE slug = 'keep-your-pin-secret'").fetchone()[0]
    double.answer = "*Keep your PIN secret* (story version)"

    first = personalise.personalised_body(services, lesson_id, level="beginner", style="stories")
    again = personalise.personalised_body(services, lesson_id, level="beginner", style="stories")
    other = personalise.personalised_body(services, lesson_id, level="beginner", style="step by step")

    assert first == again == other == double.answer
    assert len(double.requests) == 2  # one per style; the second call came from the cache
    assert "stories" in double.chat_requests()[0]["messages"][0]["content"]


def test_it_sends_the_lesson_as_written_when_personalisation_fails(services, conn, courses, double):
    configure(services, personalise_lessons=True)
    double.mode = "error"
    lesson_id, body = conn.execute("SELECT id, body FROM lessons WHERE slug = 'loops'").fetchone()

    assert personalise.personalised_body(services, lesson_id, style="examples") == body
