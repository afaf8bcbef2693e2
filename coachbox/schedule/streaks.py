"""Streaks at the learner's local midnight: a missed day uses an earned freeze, or the streak goes back to 0."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from coachbox.learning import timing
from coachbox.learning.lessondays import EVERY_DAY, missed_between
from coachbox.learning.streaks import Streak
from coachbox.store import learners, transaction


def at_midnight(streak: Streak, today: date, lesson_days: tuple[int, ...] = EVERY_DAY) -> Streak | None:
    """The stored streak as the learner's new day `today` begins; None when nothing changes (pure).

    A freeze covers the day that just ended: last_active_date moves to it, so the next completed lesson is
    "the day after" for learning.streaks.record_completion and extends the streak, as a freeze promises. Only
    lesson days ([schedule] lesson_days) are missed: a weekend without lessons breaks nothing.
    """
    if streak.current == 0 or not streak.last_active_date:
        return None
    missed = missed_between(date.fromisoformat(streak.last_active_date), today, lesson_days)
    if missed == 0:
        return None
    if missed == 1 and streak.freezes > 0:
        return replace(streak, freezes=streak.freezes - 1, last_active_date=(today - timedelta(days=1)).isoformat())
    return replace(streak, current=0)


@dataclass
class StreakReport:
    frozen: int = 0
    reset: int = 0

    @property
    def idle(self) -> bool:
        return not (self.frozen or self.reset)

    def summary(self) -> str:
        return "no streak changed" if self.idle else f"{self.frozen} freezes used, {self.reset} streaks ended"


def run_midnight(conn: sqlite3.Connection, now: datetime, lesson_days: tuple[int, ...] = EVERY_DAY) -> StreakReport:
    """Every zone whose learners have a streak: apply at_midnight to those whose last day is before yesterday.
    Runs every 15 minutes (zones sit on :30 and :45 offsets too) and is idempotent."""
    report = StreakReport()
    zones = [r[0] for r in conn.execute("SELECT DISTINCT timezone FROM learners WHERE streak > 0")]
    for tz in zones:
        today = timing.local_day(now, tz)
        with transaction(conn):
            rows = conn.execute(
                """SELECT id, streak, best_streak, streak_freezes, last_active_date FROM learners
                   WHERE timezone = ? AND streak > 0 AND last_active_date < ?""",
                (tz, (today - timedelta(days=1)).isoformat()),
            ).fetchall()
            for row in rows:
                before = Streak(row["streak"], row["best_streak"], row["streak_freezes"], row["last_active_date"])
                after = at_midnight(before, today, lesson_days)
                if after is None:
                    continue
                learners.update(
                    conn,
                    row["id"],
                    {
                        "streak": after.current,
                        "streak_freezes": after.freezes,
                        "last_active_date": after.last_active_date,
                    },
                    now,
                )
                if after.current:
                    report.frozen += 1
                else:
                    report.reset += 1
    return report
