"""The early lesson (learning.timing.early_lesson_at): inside the 24-hour window, outside quiet hours, DST-correct."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from coachbox.learning.timing import QuietHours, early_lesson_at, local_instant, send_early

NIGHT = QuietHours.of("21:00", "07:00")
HOUR = timedelta(minutes=60)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def local(day: str, hhmm: str, tz: str = "Africa/Nairobi") -> datetime:
    return local_instant(datetime.fromisoformat(day).date(), datetime.strptime(hhmm, "%H:%M").time(), tz)


@pytest.mark.parametrize(
    ("wrote", "sent"),
    [
        ("07:50", "07:35"),  # the window closes 10 minutes before the 08:00 lesson: 15 minutes before it closes
        ("09:30", "07:45"),  # closes after the lesson but too soon to keep it open two hours: just before 08:00
        ("10:30", "08:00"),  # open long enough: on time
        ("06:30", "08:00"),  # closed 90 minutes before: more than an hour early is not offered (the nudge)
        ("07:14", "08:00"),  # 06:59 would be in quiet hours (21:00-07:00): on time, and the nudge
        ("07:15", "07:00"),  # exactly when quiet hours end: allowed
    ],
)
def test_it_sends_the_lesson_early_only_inside_the_window_within_the_margin_and_outside_quiet_hours(wrote, sent):
    due = local("2026-03-03", "08:00")
    got = early_lesson_at(due, local("2026-03-02", wrote), "Africa/Nairobi", NIGHT, early=HOUR)
    assert got == local("2026-03-03", sent)


def test_the_issues_example_needs_quiet_hours_to_end_before_the_lesson():
    due = local("2026-03-03", "07:00")  # lesson 07:00, the learner wrote at 06:50
    wrote = local("2026-03-02", "06:50")
    assert early_lesson_at(due, wrote, "Africa/Nairobi", NIGHT, early=HOUR) == due  # 06:35 is quiet
    dawn = QuietHours.of("22:00", "06:00")
    assert early_lesson_at(due, wrote, "Africa/Nairobi", dawn, early=HOUR) == local("2026-03-03", "06:35")


def test_zero_minutes_or_no_message_ever_switch_it_off():
    due = local("2026-03-03", "08:00")
    assert early_lesson_at(due, local("2026-03-02", "07:50"), "Africa/Nairobi", NIGHT, early=timedelta(0)) == due
    assert early_lesson_at(due, None, "Africa/Nairobi", NIGHT, early=HOUR) == due


def test_it_counts_the_window_in_real_hours_across_london_dst_changes():
    tz = "Europe/London"
    # Spring forward (29 March 2026, 01:00 UTC): wrote Saturday 10:30 GMT; the window closes Sunday 11:30 BST,
    # 2.5 h after the 09:00 lesson: on time (wall-clock arithmetic would wrongly see 10:30 and send early).
    due = local("2026-03-29", "09:00", tz)
    assert early_lesson_at(due, local("2026-03-28", "10:30", tz), tz, NIGHT, early=HOUR) == due
    # Fall back (25 October 2026): wrote Saturday 09:50 BST; the window closes Sunday 08:50 GMT, before the
    # 09:00 lesson (wall-clock arithmetic would see 09:50 and keep it on time, and then pay for the nudge).
    due = local("2026-10-25", "09:00", tz)
    assert early_lesson_at(due, local("2026-10-24", "09:50", tz), tz, NIGHT, early=HOUR) == local(
        "2026-10-25", "08:35", tz
    )


def test_it_never_moves_the_lesson_to_the_day_before():
    quiet_off = QuietHours.of("00:00", "00:00")
    due = local("2026-03-03", "00:30")
    wrote = local("2026-03-02", "00:20")  # closes 00:20: 00:05 same day is fine
    assert early_lesson_at(due, wrote, "Africa/Nairobi", quiet_off, early=HOUR) == local("2026-03-03", "00:05")
    wrote = local("2026-03-01", "23:50")  # closes 23:50 the day before: 23:35 would be another local date
    assert early_lesson_at(due, wrote, "Africa/Nairobi", quiet_off, early=HOUR) == due


def test_the_scan_sends_from_the_early_instant_until_the_lesson_time():
    due, wrote = local("2026-03-03", "08:00"), local("2026-03-02", "07:50")
    early = local("2026-03-03", "07:35")
    assert not send_early(early - timedelta(seconds=1), due, wrote, "Africa/Nairobi", NIGHT, early=HOUR)
    assert send_early(early, due, wrote, "Africa/Nairobi", NIGHT, early=HOUR)
    assert not send_early(due, due, wrote, "Africa/Nairobi", NIGHT, early=HOUR)  # due: the usual scan's
    assert not send_early(early, due, wrote, "Africa/Nairobi", NIGHT, early=timedelta(0))
