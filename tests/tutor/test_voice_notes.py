"""Voice notes off the webhook: 'listening…' at once, the worker transcribes and runs the transcript once."""

from __future__ import annotations

import pytest

from coachbox.store import transaction
from coachbox.turns import runner as conversation
from tests.certificates import seed
from tests.tutor.conftest import configure
from tests.tutor.test_voice_and_personalise import voice_note

pytestmark = pytest.mark.anyio


def worker_tasks(services):
    from coachbox.jobs.tasks import WorkerContext
    from coachbox.turns.tasks import register as register_voice
    from coachbox.tutor.tasks import register

    context = WorkerContext(services.settings, services)
    return {**register(services.huey, context), **register_voice(services.huey, context)}


async def webhook_turn(services, double, **kw):
    """The webhook's turn with the queue's doorbell unplugged: whatever it enqueues is returned, not run."""
    services.tasks = {}
    outcome = await conversation.handle_inbound(services, voice_note(services.settings, **kw))
    return outcome


def inbound_bodies(conn):
    return [
        (r["idempotency_key"], r["body"])
        for r in conn.execute("SELECT idempotency_key, body FROM messages WHERE direction = 'in' ORDER BY id")
    ]


async def test_it_answers_a_voice_note_at_once_and_transcribes_it_in_the_worker(services, conn, learner, double):
    configure(services, transcribe_voice_notes=True)
    tasks = worker_tasks(services)
    double.mode = "timeout"  # a slow model server must not hold the webhook: nothing may call it there

    outcome = await webhook_turn(services, double)

    assert double.requests == []
    assert [m["body"] for m in seed.outbox(conn, learner)] == ["🎧 Listening to your voice note…"]
    [followup] = outcome.followups
    assert followup.task == "tutor.voice"

    double.mode = "ok"
    services.tasks = tasks  # the transcript's own follow-ups (the tutor's answer) run inline
    assert tasks["tutor.voice"](*followup.args)() == "handled"

    assert [r["path"] for r in double.requests] == ["/v1/audio/transcriptions", "/v1/chat/completions"]
    assert inbound_bodies(conn) == [("in:whatsapp:SM1", ""), ("in:whatsapp:SM1:voice", double.transcript)]
    listening, thanks, answer = seed.outbox(conn, learner)
    assert "I'm looking that up in your course" in thanks["body"]  # as if the question had been typed
    assert answer["kind"] == "tutor_ai" and answer["body"] == f"🤖 {double.answer}"


async def test_it_processes_a_voice_note_once_however_often_its_task_runs(services, conn, learner, double):
    configure(services, transcribe_voice_notes=True)
    tasks = worker_tasks(services)
    [followup] = (await webhook_turn(services, double)).followups
    services.tasks = tasks

    results = [tasks["tutor.voice"](*followup.args)() for _ in range(2)]
    retry = await conversation.handle_inbound(services, voice_note(services.settings))  # Twilio retries the webhook

    assert results == ["handled", "skipped"] and retry.duplicate
    assert len([r for r in double.requests if r["path"].endswith("/transcriptions")]) == 1
    assert len(inbound_bodies(conn)) == 2 and len(seed.outbox(conn, learner)) == 3


async def test_it_asks_for_text_when_the_worker_cannot_transcribe(services, conn, learner, double):
    configure(services, transcribe_voice_notes=True)
    tasks = worker_tasks(services)
    [followup] = (await webhook_turn(services, double)).followups
    double.mode = "error"

    results = [tasks["tutor.voice"](*followup.args)() for _ in range(2)]

    assert results == ["text_only", "skipped"]
    bodies = [m["body"] for m in seed.outbox(conn, learner)]
    assert bodies == [
        "🎧 Listening to your voice note…",
        "🎙️ Sorry, I couldn't understand that voice note. Please type your question.",
    ]
    assert conn.execute("SELECT outcome FROM tutor_usage").fetchone()[0] == "error"


async def test_it_gives_the_text_only_reply_at_once_when_transcription_is_off(services, conn, learner, double):
    outcome = await webhook_turn(services, double)

    assert outcome.followups == () and double.requests == []
    [reply] = seed.outbox(conn, learner)
    assert "I can only read text messages" in reply["body"]


async def test_it_sweeps_up_voice_notes_whose_task_was_lost(services, conn, learner, double, clock):
    configure(services, transcribe_voice_notes=True)
    tasks = worker_tasks(services)
    await webhook_turn(services, double)  # its task is never run: lost with a crashed queue
    services.tasks = tasks

    assert tasks["tutor.voice_sweep"].call_local() == 0  # still fresh: its task may yet run
    clock.advance(minutes=2)
    assert tasks["tutor.voice_sweep"].call_local() == 1

    assert inbound_bodies(conn)[-1] == ("in:whatsapp:SM1:voice", double.transcript)
    assert tasks["tutor.voice_sweep"].call_local() == 0


async def test_it_drops_a_voice_note_whose_learner_erased_their_data(services, conn, learner, double, clock):
    configure(services, transcribe_voice_notes=True)
    tasks = worker_tasks(services)
    [followup] = (await webhook_turn(services, double)).followups

    with transaction(conn):
        files = conversation.erase_learner(conn, services.cache, learner, clock.now())
    conversation.remove_files(services.settings, files)

    assert tasks["tutor.voice"](*followup.args)() == "skipped" and double.requests == []
    assert conn.execute("SELECT COUNT(*) FROM learners WHERE phone IS NOT NULL").fetchone()[0] == 0
    assert not (services.settings.data_dir / "media" / "inbound" / "MM1.ogg").exists()


async def test_a_voice_note_is_costed_once_not_again_for_its_transcript(services, conn, learner, double):
    """Twilio charges for the one message it delivered: the transcript's row (…:voice) carries no second fee."""
    configure(services, transcribe_voice_notes=True)
    services.settings = services.settings.replace(twilio={"account_sid": "AC1", "auth_token": "t"})
    services.conversation = None  # the turn's resources follow the changed settings
    tasks = worker_tasks(services)
    outcome = await webhook_turn(services, double)
    services.tasks = tasks
    assert tasks["tutor.voice"](*outcome.followups[0].args)() == "handled"
    costs = conn.execute(
        "SELECT idempotency_key, cost_estimate_micros FROM messages WHERE direction = 'in' ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in costs] == [("in:whatsapp:SM1", 5000), ("in:whatsapp:SM1:voice", None)]
