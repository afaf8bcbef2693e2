"""A voice note's second half: its transcript runs as the learner's message, through the turn runner."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.core.services import Services
from coachbox.store.messages import pending_voice_note
from coachbox.turns import runner as conversation
from coachbox.tutor import voice


def handle_voice_note(services: Services, message_id: int) -> str:
    """The worker's half of a voice note: transcribe it, then run the transcript through the conversation as
    the learner's message, keyed by the original MessageSid + ':voice' so no retry processes it twice.
    The pending `deliveries` row (kind voice_note) is the truth; it is settled in the transcript's own turn."""
    row = services.db.run_sync(pending_voice_note, message_id)
    if row is None:  # done already, or the learner erased their data meanwhile
        return "skipped"
    # Two copies of the task (a duplicate enqueue, the sweep) must not pay for two transcriptions.
    claim = f"tutor:voice:{message_id}"
    if not services.cache.add(claim, 1, expire=int(services.settings.ai.timeout_seconds * 3) + 60, retry=True):
        return "busy"
    try:
        return _transcribe_and_run(services, row)
    finally:
        services.cache.delete(claim, retry=True)


def _transcribe_and_run(services: Services, row) -> str:
    original = Inbound(
        channel=row["channel"],
        address=row["address"],
        body="",
        provider_sid=row["provider_sid"],
        received_at=datetime.fromisoformat(row["created_at"]),
        phone=row["phone"],
        wa_id=row["wa_id"],
        profile_name=row["profile_name"],
        media=tuple(
            InboundMedia(m.get("url") or "", m.get("content_type") or "", m.get("path"))
            for m in json.loads(row["media"] or "[]")
            if isinstance(m, dict)
        ),
    )
    result = voice.transcribe_inbound(services, original, learner_id=row["learner_id"], language=row["language"])
    now = services.clock.now()
    if result.reply is not None:  # never silence: the learner is asked to type instead
        services.db.run_sync(voice.text_only, row, result.reply, now)
        return "text_only"
    transcript = dataclasses.replace(result.inbound, provider_sid=f"{original.provider_sid}:voice", media=())
    res = conversation.resources(services)
    outcome = services.db.run_sync(
        lambda conn: conversation.handle_inbound_sync(
            conn,
            services.cache,
            res.settings,
            res.catalogue(conn),
            res.texts,
            transcript,
            now,
            rules=res.rules,
            transcript_of=row["id"],
        )
    )
    conversation.dispatch(services, outcome)
    return "duplicate" if outcome.duplicate else "handled"
