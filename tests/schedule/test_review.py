"""Spaced repetition: wrong answers come back before later lessons on an SM-2 schedule, in the learner's language."""

from __future__ import annotations

from coachbox.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.review import Card, ingest_answers, sm2


def test_it_schedules_with_sm2():
    wrong = sm2(Card(), 1)
    assert (wrong.interval_days, wrong.repetitions, wrong.lapses) == (1.0, 0, 1) and wrong.ease < 2.5
    first = sm2(wrong, 3)
    second = sm2(first, 3)
    third = sm2(second, 4)
    assert [first.interval_days, second.interval_days] == [1.0, 6.0]
    assert third.interval_days == round(6.0 * third.ease, 1) and third.interval_days > 6
    assert sm2(third, 0).interval_days == 1.0 and sm2(Card(ease=1.3), 0).ease == 1.3


def _morning(box, clock, day):
    clock.set(f"2026-03-{day:02d}T04:00:30+00:00")  # 07:00 Nairobi
    run_daily_lessons(box.conn, box.coach, clock.now())


def test_it_brings_a_wrong_answer_back_before_later_lessons(box):
    learner = box.learner(language="sw")
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    _morning(box, clock, 2)
    clock.advance(minutes=5)
    for text in ("jaribio", "A", "kweli", "PIN"):  # the first two wrong
        box.say(learner, text, clock.now())
    report = ingest_answers(box.conn, clock.now())
    assert (report.answers, report.items) == (3, 2)
    assert ingest_answers(box.conn, clock.now()).idle  # incremental
    reviews = {}
    for day in range(3, 10):
        box.restart_course(learner) if day == 6 else None
        _morning(box, clock, day)
        reviews[day] = [r["body"] for r in box.outbox(learner, kind="review") if r["created_at"].startswith(f"2026-03-{day:02d}")]
    # Due the next day, then after 1 more day, then 6 days later (SM-2 with "shown" = quality 3).
    assert [d for d, rows in reviews.items() if rows] == [3, 4]
    body = reviews[3][0]
    assert "Marudio mafupi" in body and "With the mobile money provider" in body and "✅ SI KWELI" in body.upper()
    lesson_day3 = [r for r in box.outbox(learner) if r["created_at"].startswith("2026-03-03")]
    assert lesson_day3[0]["kind"] == "review"  # before the lesson
    due = box.conn.execute("SELECT MIN(due_at) FROM review_items WHERE learner_id = ?", (learner,)).fetchone()[0]
    assert due.startswith("2026-03-10")
