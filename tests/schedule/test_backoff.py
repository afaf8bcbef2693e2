"""One back-off for a silent learner: lesson nudges and reminders share one template a local day, on the first
reminder_daily_days days, then reminder_backoff_days apart, then none until the learner writes (learning.backoff)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from coachbox.core.clock import FakeClock
from coachbox.learning.backoff import Prompts, may_prompt, paused
from coachbox.learning.timing import local_day, local_instant
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.reminders import run_reminders

FIRST = date(2026, 3, 2)  # New York moves to EDT on 8 March: the days cross a DST change there


def test_it_allows_one_prompt_a_day_then_backs_off_then_stops():
    prompts, days = Prompts(), []
    for offset in range(30):
        today = FIRST + timedelta(days=offset)
        for _ in range(2):  # the lesson nudge and the reminder ask on the same day: only the first may go
            if may_prompt(today, prompts, daily_days=2, gaps=(2, 4, 7)):
                prompts = prompts.after(today.isoformat())
                days.append(offset)
    # Two daily, then 2 days later; the gaps of 4 and 7 days never come: none after three unanswered in a row.
    assert days == [0, 1, 3] and prompts == Prompts(3, "2026-03-05")
    assert paused(prompts, daily_days=2, gaps=(2, 4, 7)) == 3
    assert paused(Prompts(2, "2026-03-03"), daily_days=2, gaps=(2, 4, 7)) is None
    assert paused(Prompts(1, "2026-03-01"), daily_days=0, gaps=()) == 1  # no gaps: one, then silence
    assert days_with_longer_gaps(daily_days=0, gaps=(1, 1, 1, 1)) == [0, 1, 2]  # 3 in a row at most, whatever is set
    assert may_prompt(FIRST, Prompts(), daily_days=0, gaps=(3,)) and not may_prompt(
        FIRST, Prompts(1, "2026-03-01"), daily_days=0, gaps=(3,)
    )
    assert not may_prompt(FIRST, Prompts(1, "2026-03-01"), daily_days=0, gaps=())  # no gaps: one, then silence


def days_with_longer_gaps(*, daily_days: int, gaps: tuple[int, ...]) -> list[int]:
    prompts, days = Prompts(), []
    for offset in range(30):
        today = FIRST + timedelta(days=offset)
        if may_prompt(today, prompts, daily_days=daily_days, gaps=gaps):
            prompts = prompts.after(today.isoformat())
            days.append(offset)
    return days


def _live(box, clock: FakeClock, tz: str, first: date, days: int, *, writes: dict[date, str] | None = None):
    """Each local day: the lesson scans at 07:00 and 07:05, the learner's message (if any) at noon, the reminder
    scan at 18:00, all on the learner's wall clock."""
    for n in range(days):
        day = first + timedelta(days=n)
        for at in (time(7, 0, 30), time(7, 5)):
            run_daily_lessons(box.conn, box.coach, clock.set(local_instant(day, at, tz)))
        if writes and day in writes:
            box.say(box.silent, writes[day], clock.set(local_instant(day, time(12), tz)))
        run_reminders(box.conn, box.coach, clock.set(local_instant(day, time(18, 0, 30), tz)))


def _prompted(box, tz: str) -> dict[str, list[str]]:
    """Local date → the proactive nudges written that day (each a template outside the 24-hour window)."""
    days: dict[str, list[str]] = {}
    for row in box.outbox(box.silent):
        if row["kind"] in ("nudge", "reminder"):
            day = local_day(datetime.fromisoformat(row["created_at"]), tz).isoformat()
            days.setdefault(day, []).append(row["kind"])
    return days


@pytest.mark.parametrize("tz", ["Africa/Nairobi", "America/New_York"])
def test_it_sends_a_silent_learner_one_template_a_day_then_fewer_then_none(box, tz):
    # Last wrote at 06:00 on 1 March, their time: from the 2nd on, every lesson is held for their reply.
    box.silent = box.learner(tz, last_inbound_at=local_instant(date(2026, 3, 1), time(6), tz).isoformat())
    clock = FakeClock(local_instant(FIRST, time(0), tz))
    _live(box, clock, tz, FIRST, 25)
    nudged = ["2026-03-02", "2026-03-03", "2026-03-05"]  # then none: three unanswered in a row
    assert _prompted(box, tz) == {day: ["nudge"] for day in nudged}  # never a reminder beside a nudge
    # Nor a weekly summary template on Sundays (8, 15 and 22 March): recorded as skipped.
    assert not box.outbox(box.silent, kind="summary")
    assert {r["status"] for r in box.deliveries(box.silent, "weekly_summary")} == {"skipped_silent"}
    held = [(r["key"], r["status"]) for r in box.deliveries(box.silent, "held_lesson")]
    assert held[-1] == ("2026-03-26", "pending") and len(held) == 25  # every day's lesson held, never sent
    assert box.lessons_sent(box.silent) == nudged  # the days with nothing written are recorded as empty


@pytest.mark.parametrize("tz", ["Africa/Nairobi", "America/New_York"])
def test_it_starts_again_when_the_learner_writes(box, tz):
    box.silent = box.learner(tz, last_inbound_at=local_instant(date(2026, 3, 1), time(6), tz).isoformat())
    clock = FakeClock(local_instant(FIRST, time(0), tz))
    _live(box, clock, tz, FIRST, 20)
    assert sorted(_prompted(box, tz))[-1] == "2026-03-05"  # three unanswered: silence
    back = date(2026, 3, 22)
    _live(box, clock, tz, back, 6, writes={back: "hi"})
    # "hi" at noon on the 22nd brings the held lesson, and that evening's reminder is a plain message in the window;
    # the 23rd's lesson goes out in the window too, unanswered by 18:00 (the window closed at noon): its reminder
    # is a template; then the nudges again, the back-off counted afresh from the 22nd.
    assert {d: k for d, k in _prompted(box, tz).items() if d >= back.isoformat()} == {
        "2026-03-22": ["reminder"],
        "2026-03-23": ["reminder"],
        "2026-03-24": ["nudge"],
        "2026-03-26": ["nudge"],
    }
    # Days whose daily turn wrote something: a nudge, or a lesson (the 22nd's, brought by their reply).
    assert box.lessons_sent(box.silent)[-5:] == ["2026-03-05", "2026-03-22", "2026-03-23", "2026-03-24", "2026-03-26"]
