"""Streaks at local midnight (freezes, resets) and the Sunday weekly summary before the lesson."""

from __future__ import annotations

from datetime import date

from coachbox.core.clock import FakeClock
from coachbox.learning.streaks import Streak
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.streaks import at_midnight, run_midnight


def test_it_uses_a_freeze_for_one_missed_day_and_resets_otherwise():
    s = Streak(current=5, best=9, freezes=1, last_active_date="2026-03-01")
    assert at_midnight(s, date(2026, 3, 2)) is None  # yesterday counted
    assert at_midnight(s, date(2026, 3, 3)) == Streak(5, 9, 0, "2026-03-02")
    assert at_midnight(Streak(5, 9, 0, "2026-03-01"), date(2026, 3, 3)) == Streak(0, 9, 0, "2026-03-01")
    assert at_midnight(s, date(2026, 3, 6)) == Streak(0, 9, 1, "2026-03-01")
    assert at_midnight(Streak(0, 9, 1, "2026-02-01"), date(2026, 3, 6)) is None


def test_it_updates_streaks_at_each_learners_local_midnight(box):
    kolkata = box.learner("Asia/Kolkata")
    new_york = box.learner("America/New_York")
    box.conn.execute(
        "UPDATE learners SET streak = 5, best_streak = 5, streak_freezes = 1, last_active_date = '2026-03-01'"
    )

    def streak(learner):
        row = box.conn.execute(
            "SELECT streak, streak_freezes, last_active_date FROM learners WHERE id = ?", (learner,)
        ).fetchone()
        return tuple(row)

    run_midnight(box.conn, FakeClock("2026-03-02T18:29:00+00:00").now())  # 23:59 on 2 March in Kolkata
    assert streak(kolkata) == (5, 1, "2026-03-01")
    report = run_midnight(box.conn, FakeClock("2026-03-02T18:31:00+00:00").now())  # 00:01 on 3 March
    assert report.frozen == 1 and streak(kolkata) == (5, 0, "2026-03-02") and streak(new_york) == (5, 1, "2026-03-01")
    run_midnight(box.conn, FakeClock("2026-03-03T05:01:00+00:00").now())  # 00:01 on 3 March in New York
    assert streak(new_york) == (5, 0, "2026-03-02")
    run_midnight(box.conn, FakeClock("2026-03-03T18:31:00+00:00").now())  # Kolkata misses 3 March too
    assert streak(kolkata) == (0, 0, "2026-03-02")
    assert box.conn.execute("SELECT best_streak FROM learners WHERE id = ?", (kolkata,)).fetchone()[0] == 5


def test_it_sends_the_weekly_summary_on_sunday_just_before_the_lesson(box):
    learner = box.learner("America/New_York", name="Grace Hopper")
    clock = FakeClock("2026-03-02T12:00:30+00:00")  # Monday 07:00 New York
    run_daily_lessons(box.conn, box.coach, clock.now())
    clock.advance(minutes=5)
    for text in ("ok", "quiz", "B", "false", "PIN"):  # "ok": her reply to the nudge brings Monday's lesson
        box.say(learner, text, clock.now())
    for day in range(3, 10):  # through Sunday 8 March (DST starts at 02:00) and Monday 9 March
        for at in ("10:30", "11:00", "12:00"):  # scans around 07:00 local, EST or EDT
            clock.set(f"2026-03-{day:02d}T{at}:30+00:00")
            run_daily_lessons(box.conn, box.coach, clock.now())
        if day == 7:  # she writes on Saturday evening (a silent learner gets no summary: test_backoff)
            box.say(learner, "thanks", clock.set("2026-03-07T23:00:00+00:00"))
    summaries = box.outbox(learner, kind="summary")
    assert len(summaries) == 1
    body = summaries[0]["body"]
    assert "Your week, Grace" in body and "Lessons completed: 1" in body and "Quiz average: 100%" in body
    assert "Next goal" in body
    # Sunday's rows: the summary first, then that day's lesson; sent at 07:00 EDT (11:00 UTC).
    sunday = [r for r in box.outbox(learner) if r["created_at"].startswith("2026-03-08")]
    assert sunday[0]["kind"] == "summary" and sunday[1]["kind"] == "lesson"
    assert sunday[0]["created_at"][11:16] == "11:00"
