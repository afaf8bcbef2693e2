"""The daily lesson outside WhatsApp's 24-hour window: one lesson_nudge template, the lesson held (not sent, not
lost) until the learner's reply, which brings it at once; never two held lessons; STOP, quiet hours, no template."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.core.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from tests.doubles.twilio_fixtures import twilio_double, twilio_settings_for  # noqa: F401 - fixtures

NUDGE_SID = "HX" + "7" * 32
SILENT = "2026-03-01T02:00:00+00:00"  # Amina last wrote on 1 March at 05:00 Nairobi: her window is closed by the 2nd


def _morning(box, day: int) -> FakeClock:
    clock = FakeClock(f"2026-03-{day:02d}T04:00:30+00:00")  # 07:00 Nairobi
    run_daily_lessons(box.conn, box.coach, clock.now())
    return clock


def _held(box, learner):
    return [(r["key"], r["status"]) for r in box.deliveries(learner, "held_lesson")]


def _delivered(box, learner):
    return [
        r[0]
        for r in box.conn.execute(
            """SELECT l.position FROM progress p JOIN lessons l ON l.id = p.lesson_id
           WHERE p.learner_id = ? AND p.delivered_at IS NOT NULL ORDER BY l.position""",
            (learner,),
        )
    ]


@pytest.fixture
def nudge_services(settings, clock, twilio_double):
    from coachbox.channels.twilio.transport import TwilioChannel
    from coachbox.roots.services import build_services

    s = twilio_settings_for(settings, twilio_double.url, templates={"lesson_nudge": NUDGE_SID})
    services = build_services(s, clock=clock, channel=TwilioChannel(s))
    yield services
    services.close_sync()


@pytest.mark.anyio
async def test_it_sends_one_lesson_nudge_template_and_holds_the_lesson(box, nudge_services, clock, twilio_double):
    learner = box.learner(last_inbound_at=SILENT)
    clock.set(_morning(box, 2).now())
    [nudge] = box.outbox(learner)
    assert nudge["kind"] == "nudge" and nudge["template_key"] == "lesson_nudge"
    assert json.loads(nudge["content_variables"]) == {"1": "Amina", "2": "What is mobile money?"}
    assert _delivered(box, learner) == [] and _held(box, learner) == [("2026-03-02", "pending")]
    assert not box.deliveries(learner, "quiz_followup")  # no quiz follows a lesson not yet sent
    while await deliver_due(nudge_services):
        pass
    await nudge_services.channel.close()
    [sent] = twilio_double.accepted
    assert sent.get("ContentSid") == NUDGE_SID and sent.get("Body") is None
    assert json.loads(sent.get("ContentVariables")) == {"1": "Amina", "2": "What is mobile money?"}
    assert nudge["proactive"] == 1  # the box starts it: the sender holds it in quiet hours, STOP cancels it


def test_it_releases_the_held_lesson_on_any_reply_in_the_same_turn(box):
    learner = box.learner(last_inbound_at=SILENT)
    clock = _morning(box, 2)
    clock.advance(hours=2)
    [lesson] = box.say(learner, "ok", clock.now())
    assert (
        lesson.startswith("☀️ Here is your lesson, Amina!") and "Lesson 1 of 7" in lesson and "*Question 1/3*" in lesson
    )
    assert (
        "didn't catch" not in lesson
        and not box.conn.execute("SELECT 1 FROM tutor_exchanges WHERE learner_id = ?", (learner,)).fetchone()
    )
    assert _delivered(box, learner) == [1] and _held(box, learner) == [("2026-03-02", "done")]
    assert box.deliveries(learner, "quiz_followup") == []  # lean days: the quiz started with the lesson
    assert box.say(learner, "ok", clock.now()) != [lesson]  # released once: now "ok" is just "ok"


def test_it_takes_a_quick_reply_button_as_the_reply(box):
    from coachbox.channels.base import Inbound
    from coachbox.turns.runner import handle_inbound_sync

    learner = box.learner(last_inbound_at=SILENT)
    clock = _morning(box, 2)
    row = box.conn.execute("SELECT channel_key, phone FROM learners WHERE id = ?", (learner,)).fetchone()
    tap = Inbound(
        "whatsapp",
        row["channel_key"],
        "Send it",
        "SMbutton01",
        clock.now(),
        phone=row["phone"],
        button_payload="Send it",
    )
    res = box.coach.resources
    outcome = handle_inbound_sync(
        box.conn, box.coach.cache, box.coach.settings, res.catalogue(box.conn), res.texts, tap, clock.now()
    )
    assert len(outcome.outbox_ids) == 1 and _delivered(box, learner) == [1]


def test_it_replaces_an_unanswered_nudge_the_next_day(box):
    learner = box.learner(last_inbound_at=SILENT)
    _morning(box, 2)
    clock = _morning(box, 3)
    assert [r["kind"] for r in box.outbox(learner)] == ["nudge", "nudge"]
    assert _held(box, learner) == [("2026-03-02", "skipped_unanswered"), ("2026-03-03", "pending")]
    assert box.outbox(learner)[0]["status"] == "cancelled"  # the older nudge, had it not gone out yet
    clock.advance(hours=5)
    replies = box.say(learner, "hi", clock.now())
    assert len(replies) == 1 and "Lesson 1 of 7" in replies[0]  # one lesson, not two dumped at once
    assert _delivered(box, learner) == [1]


def test_it_keeps_commands_working_and_stop_sends_nothing(box):
    learner = box.learner(last_inbound_at=SILENT)
    clock = _morning(box, 2)
    progress = box.say(learner, "PROGRESS", clock.now())
    assert "Your progress" in progress[0] and "Your lesson is ready whenever you are" in progress[-1]
    assert _held(box, learner) == [("2026-03-02", "pending")]
    stopped = box.say(learner, "STOP", clock.now())
    assert len(stopped) == 1 and "Lesson" not in stopped[0]
    assert _held(box, learner) == [("2026-03-02", "cancelled")] and _delivered(box, learner) == []
    assert "unsubscribed" in box.say(learner, "ok", clock.now())[0]
    _morning(box, 3)
    assert [r["kind"] for r in box.outbox(learner, kind="nudge")] == ["nudge"]  # nothing new while opted out


def test_it_gives_the_held_lesson_for_next_without_using_the_daily_cap(box):
    learner = box.learner(last_inbound_at=SILENT)
    clock = _morning(box, 2)
    [lesson] = box.say(learner, "NEXT", clock.now())
    assert "Lesson 1 of 7" in lesson and _held(box, learner) == [("2026-03-02", "done")]
    assert box.conn.execute("SELECT next_taken_count FROM learners WHERE id = ?", (learner,)).fetchone()[0] == 0


def test_it_holds_the_lesson_without_a_template_and_says_so_in_the_admin_page(box, nudge_services, clock):
    from dataclasses import replace

    from coachbox.channels.base import Inbound
    from coachbox.channels.outbox import plan
    from coachbox.turns.runner import after_message

    learner = box.learner(last_inbound_at=SILENT)
    now = _morning(box, 2).now()
    clock.set(now)
    [nudge] = box.outbox(learner)
    settings = replace(nudge_services.settings, twilio=replace(nudge_services.settings.twilio, templates={}))
    from coachbox.channels.outbox import _Row

    decided = plan(
        _Row.of(
            box.conn.execute(
                """SELECT m.*, l.last_inbound_at, l.opted_out FROM messages m JOIN learners l ON l.id = m.learner_id
           WHERE m.id = ?""",
                (nudge["id"],),
            ).fetchone()
        ),
        settings,
        now,
        (),
    )
    assert decided.action == "wait" and "waiting for the learner to write (no template configured" in decided.reason
    box.conn.execute(
        "UPDATE messages SET status = 'waiting', error_message = ? WHERE id = ?", (decided.reason, nudge["id"])
    )
    later = now + timedelta(hours=3)
    [lesson] = box.say(learner, "hello", later)
    hello = Inbound("whatsapp", "whatsapp:+254700000000", "hello", "SM-hello", later)
    after_message(box.conn, learner, hello, later)  # what the turn did already (the window re-queue): once more
    rows = {r["id"]: r for r in box.outbox(learner)}
    assert rows[nudge["id"]]["status"] == "cancelled"  # not re-queued: its lesson just went out
    assert "Lesson 1 of 7" in lesson and _held(box, learner) == [("2026-03-02", "done")]
