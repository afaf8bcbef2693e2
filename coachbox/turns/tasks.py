"""Huey tasks of the turn runner: a voice note's transcript run as the learner's message, MYDATA's export; sweeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from huey import Huey, crontab

from coachbox.turns import exports, voice
from coachbox.turns.runner import resources
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

    def send_export(services: Any, learner_id: int, key: str) -> str:
        texts = resources(services).texts
        now = services.clock.now()
        return services.db.run_sync(lambda conn: exports.send(conn, services.settings, texts, learner_id, key, now))

    @huey.task(name="exports.send", retries=2, retry_delay=30)
    def export_data(learner_id: int, key: str) -> str:
        return send_export(context.get(), learner_id, key)

    @huey.periodic_task(crontab(minute="*/5"), name="exports.sweep")
    def export_sweep() -> int:
        # Truth in SQLite (a pending deliveries row), queue as doorbell: a request pending 2 minutes lost its task.
        services = context.get()
        stale = services.db.run_sync(exports.pending_requests, services.clock.now() - timedelta(minutes=2))
        for learner_id, key in stale:
            send_export(services, learner_id, key)
        return len(stale)

    return {
        "tutor.voice": voice_note,
        "tutor.voice_sweep": voice_sweep,
        "exports.send": export_data,
        "exports.sweep": export_sweep,
    }
