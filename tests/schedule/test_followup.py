"""Follow-up quizzes: sent 30 minutes after the lesson, cancelled when the learner started, never in quiet hours."""

from __future__ import annotations

import pytest

from coachbox.core.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.followup import run_followups


@pytest.fixture
def settings(settings):
    """Follow-up quizzes are for boxes without lean days: with them the quiz starts in the lesson's message."""
    return settings.replace(learning={"lean_days": False})


def test_lean_days_start_the_quiz_with_the_lesson_and_schedule_no_follow_up(box):
    box.coach = type(box.coach)(box.coach.settings.replace(learning={"lean_days": True}), box.coach.cache)
    learner = box.learner()
    _lesson_at_seven(box, learner)
    assert box.deliveries(learner, "quiz_followup") == []
    [lesson] = box.outbox(learner, kind="lesson")
    assert "Lesson 1 of 7" in lesson["body"] and "*Question 1/3*" in lesson["body"]


def _lesson_at_seven(box, *learner_ids, tz_start="2026-03-02T04:00:30+00:00"):
    clock = FakeClock(tz_start)
    run_daily_lessons(box.conn, box.coach, clock.now())
    return clock


def test_it_sends_the_quiz_thirty_minutes_after_the_lesson(box):
    learner = box.learner()
    clock = _lesson_at_seven(box, learner)
    pending = box.deliveries(learner, "quiz_followup")
    assert [d["status"] for d in pending] == ["pending"]
    clock.advance(minutes=20)
    assert run_followups(box.conn, box.coach, clock.now()).idle
    clock.advance(minutes=11)
    report = run_followups(box.conn, box.coach, clock.now())
    assert report.sent == 1
    assert box.outbox(learner, kind="quiz")
    assert [d["status"] for d in box.deliveries(learner, "quiz_followup")] == ["done"]
    clock.advance(minutes=5)
    assert run_followups(box.conn, box.coach, clock.now()).idle  # once only


def test_it_cancels_the_follow_up_when_the_learner_started_the_quiz(box):
    learner = box.learner()
    clock = _lesson_at_seven(box, learner)
    clock.advance(minutes=5)
    box.say(learner, "quiz", clock.now())
    quizzes = len(box.outbox(learner, kind="quiz"))
    clock.advance(minutes=30)
    run_followups(box.conn, box.coach, clock.now())
    assert len(box.outbox(learner, kind="quiz")) == quizzes
    assert [d["status"] for d in box.deliveries(learner, "quiz_followup")] == ["cancelled"]


def test_it_skips_a_follow_up_that_falls_in_quiet_hours_or_after_a_pause(box):
    evening = box.learner("Africa/Lagos", "20:45", last_inbound_at="2026-03-02T12:00:00+00:00")  # quiz at 21:15
    paused = box.learner("Africa/Lagos", "20:45", last_inbound_at="2026-03-02T12:00:00+00:00")
    clock = FakeClock("2026-03-02T19:45:30+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    box.conn.execute("UPDATE learners SET status = 'paused' WHERE id = ?", (paused,))
    clock.advance(minutes=31)
    report = run_followups(box.conn, box.coach, clock.now())
    assert report.sent == 0 and report.skipped == {"quiet": 1, "inactive": 1}
    assert not box.outbox(evening, kind="quiz") and not box.outbox(paused, kind="quiz")
