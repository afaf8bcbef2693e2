"""Voice notes: transcribe an inbound audio message on the model server, or say that only text is understood."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from coachbox.certificates import wording
from coachbox.channels.base import Inbound
from coachbox.tutor.llm import LlmError
from coachbox.tutor.service import llm_for, record_call

log = logging.getLogger("coachbox.tutor")


@dataclasses.dataclass(frozen=True)
class VoiceResult:
    inbound: Inbound  # with body = the transcript when it worked
    reply: str | None = None  # what to tell the learner instead, when it did not


def audio_media(inbound: Inbound):
    return next((m for m in inbound.media if m.content_type.lower().startswith("audio/")), None)


def transcribe_inbound(services, inbound: Inbound, *, learner_id: int | None = None,
                       language: str | None = None) -> VoiceResult:
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


def _record_transcription(services, learner_id: int | None, latency_ms: int) -> None:
    from coachbox.store import tutor as store

    now, model = services.clock.now(), services.settings.ai.transcription_model
    services.db.run_sync(lambda conn: store.record_usage(
        conn, learner_id=learner_id, exchange_id=None, purpose="transcription", model=model, tokens_in=0,
        tokens_out=0, latency_ms=latency_ms, cost=0.0, outcome="ok", now=now))


async def transcribe_if_voice(services, inbound: Inbound) -> Inbound:
    """For the conversation service, before the engine: a voice note becomes its transcript when enabled.

    Otherwise (off, failed, or a Twilio retry whose media was not downloaded again) the inbound is returned
    as it came, and the engine answers media with its 'text only, please' reply.
    """
    import asyncio

    if audio_media(inbound) is None or inbound.body.strip() or not services.settings.ai.transcribe_voice_notes:
        return inbound
    row = await services.db.run(
        lambda conn: conn.execute("SELECT id, language FROM learners WHERE channel_key = ?",
                                  (inbound.address,)).fetchone())
    learner_id, language = (row["id"], row["language"]) if row else (None, None)
    result = await asyncio.to_thread(transcribe_inbound, services, inbound, learner_id=learner_id, language=language)
    return result.inbound
