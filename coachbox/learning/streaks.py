"""Streaks: consecutive local days with a completed lesson, with freezes that cover one missed day."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from coachbox.learning.lessondays import EVERY_DAY, missed_between


@dataclass(frozen=True)
class Streak:
    current: int = 0
    best: int = 0
    freezes: int = 0
    last_active_date: str | None = None  # the learner's local date, YYYY-MM-DD


@dataclass(frozen=True)
class StreakChange:
    streak: Streak
    extended: bool  # a new day was counted
    freeze_used: bool
    freeze_earned: bool


def record_completion(
    streak: Streak, local_day: str, *, freeze_every_days: int, lesson_days: tuple[int, ...] = EVERY_DAY
) -> StreakChange:
    """The streak after a lesson completed on `local_day` (the same day twice counts once). Only lesson days
    ([schedule] lesson_days) can be missed: Friday then Monday is consecutive on a school-days timetable."""
    last = date.fromisoformat(streak.last_active_date) if streak.last_active_date else None
    today = date.fromisoformat(local_day)
    if last is not None and today <= last:
        return StreakChange(streak, extended=False, freeze_used=False, freeze_earned=False)
    missed = missed_between(last, today, lesson_days) if last is not None else None
    freeze_used = missed == 1 and streak.freezes > 0
    current = streak.current + 1 if missed == 0 or freeze_used else 1
    freezes = streak.freezes - (1 if freeze_used else 0)
    freeze_earned = freeze_every_days > 0 and current % freeze_every_days == 0
    if freeze_earned:
        freezes += 1
    new = Streak(current=current, best=max(streak.best, current), freezes=freezes, last_active_date=local_day)
    return StreakChange(new, extended=True, freeze_used=freeze_used, freeze_earned=freeze_earned)


def current_streak(streak: Streak, local_day: str, lesson_days: tuple[int, ...] = EVERY_DAY) -> int:
    """The streak as it stands today: 0 once a gap is too long to be saved by a lesson today (days without a
    lesson are not gaps)."""
    if not streak.last_active_date:
        return 0
    last, today = date.fromisoformat(streak.last_active_date), date.fromisoformat(local_day)
    if today <= last:
        return streak.current
    missed = missed_between(last, today, lesson_days)
    if missed == 0 or (missed == 1 and streak.freezes > 0):
        return streak.current
    return 0


def as_of(streak: Streak, local_day: str, lesson_days: tuple[int, ...] = EVERY_DAY) -> Streak:
    """The same streak with `current` as it stands today (for display)."""
    return replace(streak, current=current_streak(streak, local_day, lesson_days))


def welcome_back_due(
    streak: Streak, local_day: str, welcomed_on: str | None, lesson_days: tuple[int, ...] = EVERY_DAY
) -> bool:
    """Whether a learner writing on `local_day` is back after missed days: they finished a lesson once, their streak
    has lapsed since (a gap no freeze covers), and they have not been welcomed back since that lesson (once per
    return: `welcomed_on` is the local date of the last welcome)."""
    if not streak.last_active_date or current_streak(streak, local_day, lesson_days) > 0:
        return False
    return welcomed_on is None or welcomed_on <= streak.last_active_date
