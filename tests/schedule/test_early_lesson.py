"""Early lessons: a learner whose 24-hour window closes before their lesson time gets it a little early, inside it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from coachbox.core.clock import FakeClock
from coachbox.core.config import ConfigError, Settings
from coachbox.learning.timing import EARLY_MARGIN, keep_open
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import run_daily_lessons
from coachbox.store.schedule import learners_due_by
from tests.schedule.test_daily import run_until, sent_at

REPO = Path(__file__).resolve().parents[2]


def test_it_sends_the_lesson_inside_the_window_before_it_closes_instead_of_a_nudge_after(box):
    # Lesson at 08:00 Nairobi (05:00 UTC); the learner last wrote yesterday at 07:50 (04:50 UTC): the window closes
    # at 07:50 today, so the lesson goes at 07:35 as a plain message, not the lesson_nudge template at 08:00.
    learner = box.learner(lesson_time="08:00", last_inbound_at="2026-03-01T04:50:00+00:00")
    clock = FakeClock("2026-03-01T04:30:00+00:00")  # the day before: its lesson goes at 08:00 (a first scan)
    run_until(box, clock, "2026-03-02T04:34:00+00:00", step_minutes=1)
    box.conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", ("2026-03-01T04:50:00+00:00", learner))
    before = len(box.outbox(learner))
    run_until(box, clock, "2026-03-02T05:10:00+00:00", step_minutes=1)
    assert sent_at(box, learner)[-1] == "2026-03-02T04:35"
    [lesson] = box.outbox(learner)[before:]
    assert lesson["template_key"] is None and lesson["kind"] == "lesson" and "Lesson" in lesson["body"]
    assert box.deliveries(learner, "held_lesson") == []
    # Exactly once that local date: 08:00 came and went without a second lesson; tomorrow's is at 08:00.
    assert (
        box.conn.execute("SELECT next_lesson_at FROM learners WHERE id = ?", (learner,))
        .fetchone()[0]
        .startswith("2026-03-03T05:00")
    )


def test_with_early_lessons_off_the_same_learner_gets_the_nudge_at_lesson_time(box):
    box.coach = Coach(box.coach.settings.replace(schedule={"early_lesson_minutes": 0}), box.coach.cache)
    learner = box.learner(lesson_time="08:00", last_inbound_at="2026-03-01T04:50:00+00:00")
    clock = FakeClock("2026-03-01T04:30:00+00:00")
    run_until(box, clock, "2026-03-02T04:34:00+00:00", step_minutes=1)
    box.conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", ("2026-03-01T04:50:00+00:00", learner))
    before = len(box.outbox(learner))
    run_until(box, clock, "2026-03-02T05:10:00+00:00", step_minutes=1)
    [nudge] = box.outbox(learner)[before:]
    assert nudge["template_key"] == "lesson_nudge" and nudge["created_at"].startswith("2026-03-02T05:00")


def test_it_never_sends_early_into_quiet_hours(box):
    # Lesson at 07:10, quiet hours until 07:00, wrote at 07:05: 06:50 would be quiet, so the nudge at 07:10.
    learner = box.learner(lesson_time="07:10", last_inbound_at="2026-03-01T04:05:00+00:00")
    clock = FakeClock("2026-03-01T04:30:00+00:00")
    run_until(box, clock, "2026-03-02T03:40:00+00:00", step_minutes=5)
    box.conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", ("2026-03-01T04:05:00+00:00", learner))
    before = len(box.outbox(learner))
    assert run_daily_lessons(box.conn, box.coach, FakeClock("2026-03-02T03:55:00+00:00").now()).idle
    run_until(box, clock, "2026-03-02T04:15:00+00:00", step_minutes=1)
    [nudge] = box.outbox(learner)[before:]
    assert nudge["template_key"] == "lesson_nudge"


def test_a_bad_early_lesson_setting_names_the_key_and_the_range():
    with pytest.raises(ConfigError, match=r"schedule\.early_lesson_minutes must be 0 \(off\) to 720 minutes, got -5"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_SCHEDULE_EARLY_LESSON_MINUTES": "-5"})


def test_the_scan_reads_only_learners_whose_early_instant_has_come_so_a_limit_never_hides_one(box):
    due = "2026-03-02T05:00:00+00:00"  # 08:00 in Nairobi
    open_long = box.learner(lesson_time="08:00", last_inbound_at="2026-03-01T09:00:00+00:00")  # closes 12:00
    closed = box.learner(lesson_time="08:00", last_inbound_at="2026-03-01T03:00:00+00:00")  # closed 06:00
    soon = box.learner(lesson_time="08:00", last_inbound_at="2026-03-01T04:50:00+00:00")  # closes 07:50
    box.conn.execute("UPDATE learners SET next_lesson_at = ?", (due,))
    now = FakeClock("2026-03-02T04:35:00+00:00").now()
    rows = learners_due_by(box.conn, now, timedelta(minutes=60), keep_open(lean=True), EARLY_MARGIN, 1)
    assert [r["id"] for r in rows] == [soon] and open_long < soon and closed < soon
    earlier = FakeClock("2026-03-02T04:34:00+00:00").now()  # 07:34: its early instant (07:35) has not come
    assert learners_due_by(box.conn, earlier, timedelta(minutes=60), keep_open(lean=True), EARLY_MARGIN, 5) == []
