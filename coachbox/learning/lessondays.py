"""Lesson days: the weekdays a school teaches on ([schedule] lesson_days), and the missed days a streak counts."""

from __future__ import annotations

from datetime import date, timedelta

from coachbox.core.weekdays import EVERY_DAY, NAMES, describe, parse_lesson_days

__all__ = ["EVERY_DAY", "NAMES", "describe", "is_lesson_day", "missed_between", "parse_lesson_days"]


def is_lesson_day(day: date, lesson_days: tuple[int, ...] = EVERY_DAY) -> bool:
    return day.weekday() in lesson_days


def missed_between(last: date, today: date, lesson_days: tuple[int, ...] = EVERY_DAY) -> int:
    """The lesson days strictly between `last` and `today` (what a streak missed; days without a lesson do not
    count). 0 when today is the next lesson day after last; at most 8 is counted (a streak only needs 0, 1, more)."""
    missed, day = 0, last + timedelta(days=1)
    while day < today and missed < 8:
        if day.weekday() in lesson_days:
            missed += 1
        day += timedelta(days=1)
    return missed
