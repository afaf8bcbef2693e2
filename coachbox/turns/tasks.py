"""Huey tasks of the turn runner: a voice note's transcript run as the learner's message, and its sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from huey import Huey, crontab

from coachbox.turns import voice
from coachbox.tutor.voice import stale_voice_notes


def register(huey: Huey, context: Any) -> dict:
    @huey.task(name="tutor.voice")
    def voice_note(message_id: int) -> str:
        return voice.handle_voice_note(context.get(), message_id)

    @huey.periodic_task(crontab(minute="*/2"), name="tutor.voice_sweep")
    def voice_sweep() -> int:
        # Truth in SQLite, queue as doorbell: a voice note still pending a minute on lost its task.
        services = context.get()
        stale = services.db.run_sync(stale_voice_notes, before=services.clock.now() - timedelta(minutes=1))
        for message_id in stale:
            voice.handle_voice_note(services, message_id)
        return len(stale)

    return {"tutor.voice": voice_note, "tutor.voice_sweep": voice_sweep}
