"""Reminders: one personal nudge at the reminder hour for a missed lesson; back-off 2, 4, 7 days, then silence."""

from __future__ import annotations

from datetime import date, timedelta

from coachbox.core.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.reminders import run_reminders, should_remind

D = date(2026, 3, 1)


def days(*offsets):
    return [D + timedelta(days=o) for o in offsets]


def test_it_backs_off_after_the_daily_reminders_then_stops():
    sent: list[date] = []
    for offset in range(1, 30):
        today = D + timedelta(days=offset)
        if should_remind(today, D, sent, daily_days=2, gaps=(2, 4, 7)):
            sent.append(today)
    assert [(d - D).days for d in sent] == [1, 2, 4]  # none after three unanswered in a row


def test_it_starts_counting_again_when_the_learner_writes():
    sent = days(1, 2, 4, 8, 15)
    assert not should_remind(D + timedelta(days=20), D, sent, daily_days=2, gaps=(2, 4, 7))
    assert should_remind(D + timedelta(days=20), D + timedelta(days=19), sent, daily_days=2, gaps=(2, 4, 7))
    assert not should_remind(D + timedelta(days=2), D, days(2), daily_days=2, gaps=(2, 4, 7))  # once a day


def _day(box, clock, day: str):
    """Lesson at 07:00 Nairobi, then the reminder scan through the evening."""
    clock.set(f"{day}T04:00:30+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    clock.set(f"{day}T15:00:00+00:00")  # 18:00 Nairobi
    return run_reminders(box.conn, box.coach, clock.now())


def test_it_reminds_a_learner_who_missed_todays_lesson_once_with_the_streak_at_risk(box):
    missed = box.learner(name="Baraka Otieno")
    box.conn.execute(
        "UPDATE learners SET streak = 4, best_streak = 4, last_active_date = '2026-03-01' WHERE id = ?", (missed,)
    )
    done = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    clock.set("2026-03-02T04:00:30+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    clock.advance(minutes=5)
    box.say(done, "quiz", clock.now())
    for answer in ("B", "false", "PIN"):  # lesson 1's three questions
        box.say(done, answer, clock.now())
    clock.set("2026-03-02T14:59:00+00:00")
    assert run_reminders(box.conn, box.coach, clock.now()).idle  # 17:59: not yet
    clock.set("2026-03-02T15:01:00+00:00")
    report = run_reminders(box.conn, box.coach, clock.now())
    assert report.sent == 1
    [reminder] = box.outbox(missed, kind="reminder")
    assert "Baraka" in reminder["body"] and "4-day streak" in reminder["body"]
    assert reminder["template_key"] == "reminder" and '"1": "Baraka"' in reminder["content_variables"]
    assert not box.outbox(done, kind="reminder")
    clock.advance(minutes=20)
    assert run_reminders(box.conn, box.coach, clock.now()).idle


def test_it_backs_off_for_a_silent_learner_and_never_reminds_a_paused_one(box):
    silent = box.learner(last_inbound_at="2026-03-01T08:00:00+00:00")
    paused = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    prompted = []
    for offset in range(0, 18):
        day = (date(2026, 3, 2) + timedelta(days=offset)).isoformat()
        if offset == 1:
            box.conn.execute("UPDATE learners SET status = 'paused' WHERE id = ?", (paused,))
        box.restart_course(silent) if offset % 6 == 5 else None
        before = len(box.outbox(silent))
        _day(box, clock, day)
        kinds = [r["kind"] for r in box.outbox(silent)[before:] if r["kind"] in ("nudge", "reminder")]
        if kinds:
            prompted.append((offset + 1, kinds))
    # Silent since 1 March: day 1's lesson went out in the window, its reminder in the evening; then the lessons
    # are held, and their nudges take the reminders' place: one template a day, on days 1 and 2, then 2 days
    # apart, then none: three unanswered in a row.
    assert prompted == [(1, ["reminder"]), (2, ["nudge"]), (4, ["nudge"])]
    assert [d["key"] for d in box.deliveries(paused, "reminder")] == ["2026-03-02"]
