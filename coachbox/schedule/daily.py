"""The daily lesson fan-out: every learner whose local lesson time has come gets exactly one lesson per local date."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from coachbox.schedule import timing
from coachbox.schedule.coach import Coach
from coachbox.store import schedule as q
from coachbox.store import transaction

log = logging.getLogger("coachbox.schedule.daily")

KIND = "daily_lesson"
BATCH = 500  # learners per transaction at most; HOLD_SECONDS usually ends a transaction first
# A webhook turn waiting for the write lock polls (SQLite's busy handler) at most 25 ms apart during its first
# ~128 ms of waiting. Holding the lock at most ~80 ms and then leaving a 25 ms gap means a waiting turn gets in
# at the first gap: its wait stays under ~110 ms however long the fan-out runs, at ~25 % of fan-out speed.
HOLD_SECONDS = 0.08
PAUSE_SECONDS = 0.025


@dataclass
class FanoutReport:
    sent: int = 0
    empty: int = 0  # due, but the engine had nothing to send (course finished, no course chosen)
    duplicate: int = 0  # this local date's lesson was already handled (a restart, a moved lesson time)
    skipped: dict[str, int] = field(default_factory=dict)  # late | quiet | day_over
    rescheduled: int = 0
    batches: int = 0

    @property
    def idle(self) -> bool:
        return not (self.sent or self.empty or self.duplicate or self.skipped or self.rescheduled)

    def summary(self) -> str:
        if self.idle:
            return "nobody due"
        parts = [f"{self.sent} lessons"]
        if self.empty:
            parts.append(f"{self.empty} with nothing to send")
        if self.duplicate:
            parts.append(f"{self.duplicate} already done")
        parts += [f"{n} skipped ({why})" for why, n in sorted(self.skipped.items())]
        if self.rescheduled:
            parts.append(f"{self.rescheduled} rescheduled")
        return ", ".join(parts)


# Extra messages that go before the lesson on some days (weekly summary, review): (conn, coach, learner_id,
# local date, now) -> None, run inside the same transaction as the lesson.
BeforeLesson = Callable[[sqlite3.Connection, Coach, int, date, datetime], None]


def run_daily_lessons(conn: sqlite3.Connection, coach: Coach, now: datetime, *, batch: int = BATCH,
                      before: tuple[BeforeLesson, ...] | None = None,
                      after_batch: Callable[[int], None] | None = None) -> FanoutReport:
    """Send every due lesson, one transaction per batch. Crash-safe: a batch commits whole or not at all, and
    the (learner, 'daily_lesson', local date) row is claimed in the same transaction as the outbox rows."""
    report = FanoutReport()
    before = default_before() if before is None else before
    quiet, grace = coach.quiet, coach.grace
    while True:
        with transaction(conn):
            stale = q.learners_to_reschedule(conn, batch)
            q.set_next_lessons(conn, [(_first_lesson_at(r, now, quiet, grace).isoformat(), r["id"]) for r in stale])
        report.rescheduled += len(stale)
        if len(stale) < batch:
            break
    while True:
        # One cache transaction per batch too: the engine saves each learner's session, and one commit of the
        # cache database instead of 500 is most of the difference. (Sessions carry the learner's turn counter,
        # so if the SQLite batch rolls back after the cache commits, those sessions are simply rebuilt.)
        # Lock order as in a learner's turn (SQLite first, then the cache), or the two deadlock each other.
        with transaction(conn), coach.cache.transact(retry=True):
            rows = q.due_learners(conn, now, batch)
            deadline = time.monotonic() + HOLD_SECONDS
            updates = []
            for row in rows:
                updates.append(_one(conn, coach, row, now, quiet, grace, before, report))
                if time.monotonic() > deadline:
                    break  # the rest stay due and come in the next transaction
            q.set_next_lessons(conn, updates)
        if not rows:
            break
        report.batches += 1
        if after_batch is not None:
            after_batch(report.batches)
        # Let a waiting webhook turn take the write lock: SQLite's busy handler polls, and a writer that
        # re-takes the lock at once can starve it for the whole fan-out.
        time.sleep(PAUSE_SECONDS)
    return report


def _first_lesson_at(row: sqlite3.Row, now: datetime, quiet: timing.QuietHours, grace) -> datetime:
    """A (re)scheduled learner's next lesson: today's while within grace (resumed at 08:00, the 07:00 lesson
    still comes), unless they already had a lesson today (onboarding's first lesson, NEXT): then tomorrow's."""
    tz = row["timezone"]
    after = None
    if row["last_delivered_at"]:
        last = timing.local_day(datetime.fromisoformat(row["last_delivered_at"]), tz)
        if last == timing.local_day(now, tz):
            after = last
    return timing.next_lesson_at(now, row["lesson_time"], tz, quiet, after=after, grace=grace)


def _one(conn: sqlite3.Connection, coach: Coach, row: sqlite3.Row, now: datetime, quiet: timing.QuietHours,
         grace, before: tuple[BeforeLesson, ...], report: FanoutReport) -> tuple[str, int]:
    learner_id, tz = row["id"], row["timezone"]
    due = datetime.fromisoformat(row["next_lesson_at"])
    verdict = timing.judge(due, now, tz, quiet, grace)
    day = date.fromisoformat(verdict.local_date)
    if verdict.action != "send":
        # Recorded, so the admin page can say why a learner got no lesson that day.
        if q.claim(conn, learner_id, KIND, verdict.local_date, due_at=due, status=f"skipped_{verdict.action}", now=now):
            report.skipped[verdict.action] = report.skipped.get(verdict.action, 0) + 1
    elif not q.claim(conn, learner_id, KIND, verdict.local_date, due_at=due, status="pending", now=now):
        report.duplicate += 1
    else:
        for step in before:
            step(conn, coach, learner_id, day, now)
        outcome = coach.run_event(conn, learner_id, _event(), now)
        if outcome.outbox_ids:
            q.settle(conn, learner_id, KIND, verdict.local_date, "done", q.lesson_delivered_at(conn, learner_id, now))
            report.sent += 1
        else:
            q.settle(conn, learner_id, KIND, verdict.local_date, "empty")
            report.empty += 1
    following = timing.next_lesson_at(now, row["lesson_time"], tz, quiet, after=day, grace=grace)
    return following.isoformat(), learner_id


def _event():
    from coachbox.conversation.events import DeliverDailyLesson

    return DeliverDailyLesson()


def default_before() -> tuple[BeforeLesson, ...]:
    """The messages that precede a lesson, in order: the Sunday summary, then review questions."""
    from coachbox.schedule import review, summary

    return (summary.before_lesson, review.before_lesson)
