"""The daily lesson fan-out: every learner whose local lesson time has come gets exactly one lesson per local date."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from coachbox.conversation.events import DeliverDailyLesson
from coachbox.learning import timing
from coachbox.schedule import summary
from coachbox.schedule.coach import Coach
from coachbox.store import proactive, transaction
from coachbox.store import schedule as q

log = logging.getLogger("coachbox.schedule.daily")

KIND = "daily_lesson"
BATCH = 4000  # learners per batch at most; HOLD_SECONDS sizes the batches below that
# A webhook turn waiting for the write lock polls (SQLite's busy handler) at most 25 ms apart during its first
# ~128 ms of waiting. A batch is decided (snapshots, the engine) in a read transaction, without the write lock,
# and only written under it: batches are sized from the previous write's time per learner so that each holds the
# lock for about HOLD_SECONDS, and the next batch's deciding (longer than that) is the gap a waiting turn gets in
# at. Broadcasts and follow-up quizzes, written under the lock, hold it as long and then pause PAUSE_SECONDS.
HOLD_SECONDS = 0.08
PAUSE_SECONDS = 0.025
FIRST_BATCH = 100


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


# Extra messages that go before the lesson on some days (weekly summary, review): (conn, coach, [(learner_id,
# local date)], now) -> None for a whole batch, run inside the same transaction as the lessons.
BeforeLesson = Callable[[sqlite3.Connection, Coach, list[tuple[int, date]], datetime], None]


def run_daily_lessons(
    conn: sqlite3.Connection,
    coach: Coach,
    now: datetime,
    *,
    batch: int = BATCH,
    before: tuple[BeforeLesson, ...] | None = None,
    after_batch: Callable[[int], None] | None = None,
    before_write: Callable[[list[int]], None] | None = None,
) -> FanoutReport:
    """Send every due lesson, one write transaction per batch. Crash-safe: a batch commits whole or not at all,
    and the (learner, 'daily_lesson', local date) row is claimed in the same transaction as the outbox rows.
    before_write: called with a batch's learner ids once it is decided, before it is written (tests)."""
    report = FanoutReport()
    before = default_before() if before is None else before
    quiet, grace, days = coach.quiet, coach.grace, coach.lesson_days
    while True:
        with transaction(conn):
            stale = q.learners_to_reschedule(conn, batch)
            q.set_next_lessons(
                conn, [(_first_lesson_at(r, now, quiet, grace, days).isoformat(), r["id"]) for r in stale]
            )
        report.rescheduled += len(stale)
        if len(stale) < batch:
            break
    size = min(batch, FIRST_BATCH)
    unlocked_since = time.monotonic()
    early = timedelta(minutes=coach.settings.schedule.early_lesson_minutes)
    early_pass = early > timedelta(0)
    while True:
        # Decide outside the write lock: who is due, their verdicts and next instants, and the engine's lessons,
        # all from one read snapshot. Webhook turns write meanwhile.
        with _reading(conn):
            rows = q.due_learners(conn, now, size)
            if not rows and early_pass:
                # Last, once a run: learners whose window closes before their lesson time, sent it a little
                # early inside the window (learning.timing.early_lesson_at; [schedule] early_lesson_minutes).
                early_pass = False
                lean = coach.settings.learning.lean_days
                keep = timing.keep_open(lean=lean)
                candidates = q.learners_due_by(conn, now, early, keep, timing.EARLY_MARGIN, batch)
                rows = _early_rows(candidates, now, quiet, early, lean)
            plan = _plan(rows, now, quiet, grace, days)
            sending = [row["id"] for row in rows if plan[row["id"]][1].action == "send"]
            decided = coach.decide_events(conn, sending, _event(), now) if sending else None
        if not rows:
            break
        if before_write is not None:
            before_write([row["id"] for row in rows])
        # Let a waiting webhook turn take the write lock first (SQLite's busy handler polls): a batch whose deciding
        # was shorter than a poll interval waits the rest of it.
        gap = time.monotonic() - unlocked_since
        if gap < PAUSE_SECONDS:
            time.sleep(PAUSE_SECONDS - gap)
        with transaction(conn):
            started = time.monotonic()  # the hold, not the wait for the lock (a webhook turn's)
            q.set_next_lessons(conn, _write(conn, coach, rows, plan, decided, now, before, report))
        unlocked_since = time.monotonic()
        report.batches += 1
        if after_batch is not None:
            after_batch(report.batches)
        per_learner = (unlocked_since - started) / len(rows)
        size = max(1, min(batch, int(HOLD_SECONDS / max(per_learner, 1e-6))))
    return report


def _early_rows(
    rows: list[sqlite3.Row], now: datetime, quiet: timing.QuietHours, early: timedelta, lean: bool
) -> list[sqlite3.Row]:
    """Of the learners due within `early`, those to send to now, before their lesson time (pure)."""
    return [
        row
        for row in rows
        if row["last_inbound_at"]
        and timing.send_early(
            now,
            datetime.fromisoformat(row["next_lesson_at"]),
            datetime.fromisoformat(row["last_inbound_at"]),
            row["timezone"],
            quiet,
            early=early,
            keep_open=timing.keep_open(lean=lean),
        )
    ]


def _first_lesson_at(
    row: sqlite3.Row, now: datetime, quiet: timing.QuietHours, grace, days: tuple[int, ...] = timing.EVERY_DAY
) -> datetime:
    """A (re)scheduled learner's next lesson: today's while within grace (resumed at 08:00, the 07:00 lesson
    still comes), unless they already had a lesson today (onboarding's first lesson, NEXT): then tomorrow's; on a
    lesson day ([schedule] lesson_days) either way."""
    tz = row["timezone"]
    after = None
    if row["last_delivered_at"]:
        last = timing.local_day(datetime.fromisoformat(row["last_delivered_at"]), tz)
        if last == timing.local_day(now, tz):
            after = last
    return timing.next_lesson_at(now, row["lesson_time"], tz, quiet, after=after, grace=grace, days=days)


@contextlib.contextmanager
def _reading(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every query in it sees the same snapshot, and (WAL) no writer waits for it."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


_AT = {name: index for index, name in enumerate(proactive.WATCHED)}


def _still_due(row: sqlite3.Row, watched: tuple | None) -> bool:
    """The scan's verdict for this row still holds: same zone, lesson time and due instant, still active."""
    return (
        watched is not None
        and watched[_AT["status"]] == "active"
        and not watched[_AT["opted_out"]]
        and all(watched[_AT[k]] == row[k] for k in ("timezone", "lesson_time", "next_lesson_at"))
    )


Plan = dict[int, tuple[str, timing.Verdict, str]]  # learner → (due, verdict, next lesson instant), ISO-8601


def _plan(
    rows: list[sqlite3.Row], now: datetime, quiet: timing.QuietHours, grace, days: tuple[int, ...] = timing.EVERY_DAY
) -> Plan:
    """Each due learner's verdict (send, or skip and why) and next lesson instant: pure, from the scan's rows. A
    lesson due on a day without lessons (lesson_days changed since it was planned) is "rest_day": moved on to the
    next lesson day, with no row of its own."""
    plan, seen = {}, {}
    for row in rows:
        # Learners due at the same instant in the same zone at the same lesson time (most of a big fan-out)
        # share their verdict and next instant: worked out once.
        same = (row["next_lesson_at"], row["timezone"], row["lesson_time"])
        if same not in seen:
            due = datetime.fromisoformat(row["next_lesson_at"])
            verdict = timing.judge(due, now, row["timezone"], quiet, grace)
            if date.fromisoformat(verdict.local_date).weekday() not in days:
                verdict = timing.Verdict("rest_day", verdict.local_date)
            following = timing.next_lesson_at(
                now,
                row["lesson_time"],
                row["timezone"],
                quiet,
                after=date.fromisoformat(verdict.local_date),
                grace=grace,
                days=days,
            )
            seen[same] = (due.isoformat(), verdict, following.isoformat())
        plan[row["id"]] = seen[same]
    return plan


def _write(
    conn: sqlite3.Connection,
    coach: Coach,
    rows: list[sqlite3.Row],
    plan: Plan,
    decided,
    now: datetime,
    before: tuple[BeforeLesson, ...],
    report: FanoutReport,
) -> list[tuple[str, int]]:
    """One decided batch, inside its write transaction: find who has a (learner, 'daily_lesson', local date) row
    already, run the steps before the lesson, write every lesson, then each claim row, once, with its outcome
    (done with the lesson's id, empty, skipped_…); returns the next lesson instants.

    A learner whose scheduling changed since the batch was read (a new lesson time or zone, a pause, STOP) is left
    out: the scan finds them again, if still due, for the next batch. (Any other change, a message from them, is
    for the conversation's write_batch, which decides that learner's lesson again under the lock.)"""
    current = proactive.versions(conn, [row["id"] for row in rows])
    rows = [row for row in rows if _still_due(row, current.get(row["id"]))]
    # The claim: a (learner, 'daily_lesson', local date) row that exists already is another run's (a restart, a
    # moved lesson time). Read under the write lock, so nothing slips in before this batch's rows are written.
    taken = proactive.deliveries(conn, KIND, [(row["id"], plan[row["id"]][1].local_date) for row in rows])
    claims: list[tuple[int, str, int | None, str | None, str]] = []
    sending: list[int] = []
    for row in rows:
        learner_id = row["id"]
        due, verdict, _ = plan[learner_id]
        if verdict.action == "rest_day":
            report.rescheduled += 1  # no lesson that weekday: the next lesson day's instant is written below
        elif (learner_id, verdict.local_date) in taken:
            if verdict.action == "send":
                report.duplicate += 1
        elif verdict.action != "send":
            # Recorded, so the admin page can say why a learner got no lesson that day.
            report.skipped[verdict.action] = report.skipped.get(verdict.action, 0) + 1
            claims.append((learner_id, verdict.local_date, None, due, f"skipped_{verdict.action}"))
        else:
            sending.append(learner_id)
    for step in before:
        step(conn, coach, [(i, date.fromisoformat(plan[i][1].local_date)) for i in sending], now)
    # Each claim is written once, with its outcome (the lesson's turn writes no row of its own for it: `claims`).
    outcomes = (
        coach.write_events(conn, decided, sending, current, claims={(i, plan[i][1].local_date) for i in sending})
        if sending
        else {}
    )
    lessons = q.lessons_delivered_at(conn, sending, now) if sending else {}
    for learner_id in sending:
        due, verdict, _ = plan[learner_id]
        if outcomes[learner_id].outbox_ids:
            claims.append((learner_id, verdict.local_date, lessons.get(learner_id), due, "done"))
            report.sent += 1
        else:
            claims.append((learner_id, verdict.local_date, None, due, "empty"))
            report.empty += 1
    proactive.claim_settled(conn, KIND, claims, now)
    return [(plan[row["id"]][2], row["id"]) for row in rows]


def _event():
    return DeliverDailyLesson()


def default_before() -> tuple[BeforeLesson, ...]:
    """The messages that precede a lesson: the Sunday summary. (Due review questions are asked by the lesson's own
    turn, conversation.review: the lesson follows the review.)"""
    return (_summaries,)


def _summaries(conn: sqlite3.Connection, coach: Coach, due: list[tuple[int, date]], now: datetime) -> None:
    # Once a batch: coach.lesson_days parses the setting each time it is read (~7 µs; once a learner it was 3% of
    # the fan-out).
    weekday = summary.summary_day(coach.lesson_days)
    for learner_id, day in due:
        if day.weekday() == weekday:
            summary.before_lesson(conn, coach, learner_id, day, now)
