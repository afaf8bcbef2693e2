"""Lesson days ([schedule] lesson_days) and the quiz in one message on the real scheduler: no lesson, reminder or
broken streak on a day without lessons; the day's review questions asked in the lesson's message (issue #19)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from coachbox.core.config import ConfigError
from coachbox.learning.lessondays import missed_between, parse_lesson_days
from coachbox.learning.streaks import Streak, current_streak, record_completion, welcome_back_due
from coachbox.learning.timing import QuietHours, next_lesson_at
from coachbox.schedule import reminders, streaks
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.streaks import at_midnight
from coachbox.store.reviews import ingest_answers

SCHOOL = parse_lesson_days("mon-fri")
QUIET = QuietHours.of("21:00", "07:00")
# March 2026: Friday the 6th, Saturday 7, Sunday 8 (the US changes its clocks that night, Nairobi never does),
# Monday 9, Tuesday 10.


def test_it_reads_lesson_days_as_a_school_writes_them():
    assert SCHOOL == parse_lesson_days("Mon,Tue,Wed,Thu,Fri") == parse_lesson_days("monday, tuesday, wed, thu, fri")
    assert parse_lesson_days("") == parse_lesson_days("daily") == tuple(range(7))
    assert parse_lesson_days("fri-mon") == (0, 4, 5, 6)  # a range over the week's end
    with pytest.raises(ValueError, match="'funday' is not a day"):
        parse_lesson_days("mon,funday")


def test_a_wrong_lesson_days_setting_stops_the_box_naming_the_key(settings):
    with pytest.raises(ConfigError, match=r"schedule.lesson_days: .*mon-fri"):
        type(settings).load(None, {"COACHBOX_SCHEDULE_LESSON_DAYS": "weekdays"})
    with pytest.raises(ConfigError, match="learning.quiz_style"):
        type(settings).load(None, {"COACHBOX_LEARNING_QUIZ_STYLE": "bulk"})


def test_a_streak_does_not_break_over_a_weekend_without_lessons():
    friday = Streak(current=4, best=4, last_active_date="2026-03-06")
    assert missed_between(date(2026, 3, 6), date(2026, 3, 9), SCHOOL) == 0
    assert missed_between(date(2026, 3, 6), date(2026, 3, 9)) == 2  # every day a lesson day: two missed
    monday = record_completion(friday, "2026-03-09", freeze_every_days=7, lesson_days=SCHOOL)
    assert monday.extended and monday.streak.current == 5 and not monday.freeze_used
    # On the weekend and Monday morning it still stands; with lessons every day it would have lapsed.
    assert current_streak(friday, "2026-03-08", SCHOOL) == current_streak(friday, "2026-03-09", SCHOOL) == 4
    assert current_streak(friday, "2026-03-09") == 0
    assert not welcome_back_due(friday, "2026-03-09", None, SCHOOL) and welcome_back_due(friday, "2026-03-09", None)
    # Missing Monday is a missed lesson day: Tuesday's lesson needs a freeze, as Saturday's would on every day.
    tuesday = record_completion(friday, "2026-03-10", freeze_every_days=7, lesson_days=SCHOOL)
    assert tuesday.streak.current == 1
    frozen = record_completion(Streak(4, 4, 1, "2026-03-06"), "2026-03-10", freeze_every_days=7, lesson_days=SCHOOL)
    assert frozen.freeze_used and frozen.streak.current == 5
    # A lesson pulled with NEXT on Saturday counts, and Monday follows it.
    saturday = record_completion(friday, "2026-03-07", freeze_every_days=7, lesson_days=SCHOOL).streak
    assert record_completion(saturday, "2026-03-09", freeze_every_days=7, lesson_days=SCHOOL).streak.current == 6


def test_the_midnight_job_keeps_the_streak_over_the_weekend_and_ends_it_after_a_missed_monday():
    friday = Streak(current=4, best=4, last_active_date="2026-03-06")
    for day in (7, 8, 9):  # Saturday, Sunday, Monday begin: nothing missed yet
        assert at_midnight(friday, date(2026, 3, day), SCHOOL) is None
    assert at_midnight(friday, date(2026, 3, 10), SCHOOL).current == 0  # Monday was missed
    with_freeze = Streak(4, 4, 1, "2026-03-06")
    assert at_midnight(with_freeze, date(2026, 3, 10), SCHOOL) == Streak(4, 4, 0, "2026-03-09")
    assert at_midnight(friday, date(2026, 3, 8)).current == 0  # every day a lesson day: Saturday was missed


def test_the_next_lesson_skips_days_without_lessons_across_a_week_and_a_dst_change():
    friday_after = datetime.fromisoformat("2026-03-06T10:00:00+00:00")
    # Nairobi: Friday's lesson is over, the next is Monday 07:00 (04:00 UTC), not Saturday.
    assert next_lesson_at(friday_after, "07:00", "Africa/Nairobi", QUIET, days=SCHOOL).isoformat() == (
        "2026-03-09T04:00:00+00:00"
    )
    # New York moves its clocks on Sunday 8 March: Monday 07:00 is then 11:00 UTC (it was 12:00 on Friday).
    assert next_lesson_at(friday_after, "07:00", "America/New_York", QUIET, days=SCHOOL).isoformat() == (
        "2026-03-06T12:00:00+00:00"
    )
    late_friday = datetime.fromisoformat("2026-03-06T18:00:00+00:00")
    assert next_lesson_at(late_friday, "07:00", "America/New_York", QUIET, days=SCHOOL).isoformat() == (
        "2026-03-09T11:00:00+00:00"
    )
    assert next_lesson_at(late_friday, "07:00", "America/New_York", QUIET).isoformat() == "2026-03-07T12:00:00+00:00"


@pytest.fixture
def school(box, settings):
    box.coach = Coach(settings.replace(schedule={"lesson_days": "mon-fri"}), box.coach.cache)
    return box


def _lessons(box, learner) -> list[str]:
    return [r["key"] for r in box.deliveries(learner) if r["status"] == "done"]


def test_the_fan_out_sends_no_lesson_on_the_weekend_and_no_reminder_either(school):
    learner = school.learner(last_inbound_at="2026-03-06T03:00:00+00:00")
    for day in (6, 7, 8, 9):  # Friday to Monday, 07:00 and 18:00 in Nairobi, each with the window open
        school.conn.execute("UPDATE learners SET last_inbound_at = ?", (f"2026-03-{day:02d}T03:30:00+00:00",))
        run_daily_lessons(school.conn, school.coach, datetime.fromisoformat(f"2026-03-{day:02d}T04:00:30+00:00"))
        reminders.run_reminders(school.conn, school.coach, datetime.fromisoformat(f"2026-03-{day:02d}T15:05:00+00:00"))
    assert _lessons(school, learner) == ["2026-03-06", "2026-03-09"]
    assert [r["key"] for r in school.deliveries(learner, "reminder")] == ["2026-03-06", "2026-03-09"]
    row = school.conn.execute("SELECT next_lesson_at FROM learners WHERE id = ?", (learner,)).fetchone()
    assert row[0] == "2026-03-10T04:00:00+00:00"


def test_a_lesson_planned_for_a_weekend_before_the_setting_changed_moves_to_monday(school):
    learner = school.learner()
    school.conn.execute("UPDATE learners SET next_lesson_at = '2026-03-07T04:00:00+00:00' WHERE id = ?", (learner,))
    report = run_daily_lessons(school.conn, school.coach, datetime.fromisoformat("2026-03-07T04:00:30+00:00"))
    assert report.sent == 0 and report.rescheduled >= 1 and school.deliveries(learner) == []
    row = school.conn.execute("SELECT next_lesson_at FROM learners WHERE id = ?", (learner,)).fetchone()
    assert row[0] == "2026-03-09T04:00:00+00:00"


def test_the_midnight_job_uses_the_lesson_days(school):
    learner = school.learner()
    school.conn.execute(
        "UPDATE learners SET streak = 3, best_streak = 3, last_active_date = '2026-03-06' WHERE id = ?", (learner,)
    )
    streaks.run_midnight(school.conn, datetime.fromisoformat("2026-03-08T21:30:00+00:00"), SCHOOL)  # Monday 00:30
    assert school.conn.execute("SELECT streak FROM learners WHERE id = ?", (learner,)).fetchone()[0] == 3
    streaks.run_midnight(school.conn, datetime.fromisoformat("2026-03-08T21:30:00+00:00"))  # every day: it ends
    assert school.conn.execute("SELECT streak FROM learners WHERE id = ?", (learner,)).fetchone()[0] == 0


@pytest.fixture
def one(box, settings):
    box.coach = Coach(settings.replace(learning={"quiz_style": "one_message"}), box.coach.cache)
    return box


def test_the_days_review_questions_come_numbered_first_in_the_lessons_message(one):
    learner = one.learner()
    # Monday 2 March: lesson 1, question 1 wrong (it comes back the next day) and question 3 wrong.
    one.conn.execute("UPDATE learners SET last_inbound_at = '2026-03-02T03:00:00+00:00'")
    run_daily_lessons(one.conn, one.coach, datetime.fromisoformat("2026-03-02T04:00:30+00:00"))
    [text] = one.say(learner, "1A 2 false 3 password", datetime.fromisoformat("2026-03-02T04:05:00+00:00"))
    assert "You scored *1/3*" in text
    ingest_answers(one.conn, datetime.fromisoformat("2026-03-02T04:10:00+00:00"))
    one.conn.execute("UPDATE learners SET last_inbound_at = '2026-03-03T03:00:00+00:00'")
    one.conn.execute("UPDATE progress SET passed = 1")  # move on to lesson 2 (the pass rule is not the point here)
    run_daily_lessons(one.conn, one.coach, datetime.fromisoformat("2026-03-03T04:00:30+00:00"))
    today = [r for r in one.outbox(learner) if r["created_at"].startswith("2026-03-03")]
    quiz = today[-1]["body"]
    assert "Lesson 2 of 7" in today[0]["body"] and "Before today's lesson" not in today[0]["body"]
    assert "first 2 from earlier lessons 🔁, then 3 on" in quiz
    assert "*1.* 🔁 Where is your mobile money" in quiz and "*2.* 🔁 What is the secret" in quiz
    assert "*3.* " in quiz and "*5.* " in quiz and "*6.*" not in quiz
    # The review holds no lesson: it is open in the quiz (a lost session is rebuilt as this quiz) until answered.
    assert [(r["key"], r["status"]) for r in one.deliveries(learner, "review")] == [("2026-03-03/quiz", "pending")]
    # One reply to all five: both reviews graded (their FSRS cards move on), then lesson 2's quiz.
    # The session was not kept by the fan-out: the turn rebuilds it from the open review (state.QUIZ_REVIEW).
    [reply] = one.say(learner, "1b 2 pin 3c 4 false 5 keypad", datetime.fromisoformat("2026-03-03T04:06:00+00:00"))
    assert "*1.* ✅" in reply and "*2.* ✅" in reply and "You scored *3/3*" in reply
    cards = one.conn.execute(
        "SELECT repetitions FROM review_items WHERE learner_id = ? AND last_reviewed_at >= '2026-03-03'", (learner,)
    ).fetchall()
    assert [c[0] for c in cards] == [1, 1]
    logged = one.conn.execute("SELECT COUNT(*) FROM review_log WHERE source = 'review'").fetchone()[0]
    assert logged == 2
    assert [r["status"] for r in one.deliveries(learner, "review")] == ["done"]


def test_no_reminder_comes_in_the_same_hour_as_the_lesson(box):
    morning = box.learner(lesson_time="07:00", last_inbound_at="2026-03-02T03:00:00+00:00")
    evening = box.learner(lesson_time="17:30", last_inbound_at="2026-03-02T13:00:00+00:00")
    run_daily_lessons(box.conn, box.coach, datetime.fromisoformat("2026-03-02T04:00:30+00:00"))
    run_daily_lessons(box.conn, box.coach, datetime.fromisoformat("2026-03-02T14:30:30+00:00"))
    assert _lessons(box, morning) == _lessons(box, evening) == ["2026-03-02"]
    reminders.run_reminders(box.conn, box.coach, datetime.fromisoformat("2026-03-02T15:05:00+00:00"))  # 18:05
    assert [r["key"] for r in box.deliveries(morning, "reminder")] == ["2026-03-02"]
    assert box.deliveries(evening, "reminder") == []  # its lesson came 35 minutes ago: not missed yet
