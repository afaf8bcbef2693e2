"""Voice notes: transcribed by the worker on the model server and run as text, or the learner is asked to type."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from coachbox.certificates import wording
from coachbox.channels.base import Inbound
from coachbox.core.services import Services
from coachbox.store import transaction
from coachbox.store import tutor as store
from coachbox.store.messages import OutboxDraft, enqueue_outbound
from coachbox.tutor.llm import LlmError
from coachbox.tutor.service import llm_for, record_call

log = logging.getLogger("coachbox.tutor")


@dataclasses.dataclass(frozen=True)
class VoiceResult:
    inbound: Inbound  # with body = the transcript when it worked
    reply: str | None = None  # what to tell the learner instead, when it did not


def audio_media(inbound: Inbound):
    return next((m for m in inbound.media if m.content_type.lower().startswith("audio/")), None)


def transcribe_inbound(
    services: Services, inbound: Inbound, *, learner_id: int | None = None, language: str | None = None
) -> VoiceResult:
    """Turn a voice note into text (when [ai] transcribe_voice_notes is on); otherwise a polite 'text only'."""
    settings = services.settings
    language = language or settings.org.default_language
    media = audio_media(inbound)
    if media is None or inbound.body.strip():
        return VoiceResult(inbound)
    if not (settings.ai.transcribe_voice_notes and settings.ai.api_key) or not media.path:
        return VoiceResult(inbound, wording.phrase(settings, language, "tutor.voice_unsupported"))
    path = Path(media.path)
    path = path if path.is_absolute() else settings.data_dir / path
    try:
        text, latency = llm_for(services).transcribe(path, media.content_type, language=language)
    except (LlmError, OSError) as exc:
        log.warning("voice note transcription failed", extra={"error": str(exc), "learner_id": learner_id})
        if isinstance(exc, LlmError):
            record_call(services, learner_id, None, "transcription", None, exc)
        return VoiceResult(inbound, wording.phrase(settings, language, "tutor.voice_failed"))
    _record_transcription(services, learner_id, latency)
    if not text:
        return VoiceResult(inbound, wording.phrase(settings, language, "tutor.voice_failed"))
    return VoiceResult(dataclasses.replace(inbound, body=text))


def _record_transcription(services: Services, learner_id: int | None, latency_ms: int) -> None:
    now, model = services.clock.now(), services.settings.ai.transcription_model
    services.db.run_sync(
        lambda conn: store.record_usage(
            conn,
            learner_id=learner_id,
            exchange_id=None,
            purpose="transcription",
            model=model,
            tokens_in=0,
            tokens_out=0,
            latency_ms=latency_ms,
            cost=0.0,
            outcome="ok",
            now=now,
        )
    )


def is_voice_note(settings, inbound: Inbound) -> bool:
    """A voice note the worker will transcribe: on, with a key, downloaded, and no caption to read instead.
    Anything else (off, or a Twilio retry whose media was not downloaded again) goes to the engine as media,
    which answers with its 'text only, please' reply."""
    media = audio_media(inbound)
    return bool(
        settings.ai.transcribe_voice_notes
        and settings.ai.api_key
        and media is not None
        and media.path
        and not inbound.body.strip()
    )


def settle(conn: sqlite3.Connection, message_id: int) -> bool:
    """Mark a voice note handled (compare-and-set, inside the caller's transaction); False when it already was."""
    return (
        conn.execute(
            "UPDATE deliveries SET status = 'done' WHERE kind = 'voice_note' AND key = ? AND status = 'pending'",
            (str(message_id),),
        ).rowcount
        == 1
    )


def text_only(conn: sqlite3.Connection, row: sqlite3.Row, text: str, now: datetime) -> None:
    with transaction(conn):
        if settle(conn, row["id"]):
            enqueue_outbound(
                conn,
                learner_id=row["learner_id"],
                channel=row["channel"],
                address=row["address"],
                draft=OutboxDraft(text, idempotency_key=f"voice:{row['id']}:text_only"),
                now=now,
            )


def stale_voice_notes(conn: sqlite3.Connection, *, before: datetime) -> list[int]:
    """Voice notes still pending a while after they came in: their task was lost (Huey does not promise it)."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT key FROM deliveries WHERE kind = 'voice_note' AND status = 'pending' AND created_at < ? ORDER BY id",
            (before.isoformat(),),
        )
    ]
