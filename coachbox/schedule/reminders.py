"""Reminders: one nudge at the reminder hour to a learner who has not done today's lesson, backing off when silent."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from coachbox.learning import timing
from coachbox.learning.backoff import Prompts, may_prompt
from coachbox.learning.streaks import Streak, current_streak
from coachbox.schedule.coach import Coach
from coachbox.store import progress, transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound

KIND = "reminder"
WINDOW = timedelta(hours=1)  # a reminder is sent in the hour after reminder_hour, or not that day
# A lesson due less than this before the reminder hour is not yet "missed": a learner whose lesson comes at 17:00
# or 18:00 gets no reminder in the same hour as the lesson (a paid template beside a lesson they just received).
SINCE_LESSON = timedelta(hours=2)


def should_remind(
    today: date, last_inbound_day: date | None, earlier: list[date], *, daily_days: int, gaps: tuple[int, ...]
) -> bool:
    """learning.backoff.may_prompt over a list of the days the learner was prompted (a reminder or a lesson
    nudge); those on or before the local date of their last message do not count."""
    since = sorted({d for d in earlier if last_inbound_day is None or d > last_inbound_day})
    prompts = Prompts(len(since), since[-1].isoformat() if since else None)
    return may_prompt(today, prompts, daily_days=daily_days, gaps=gaps)


@dataclass
class ReminderReport:
    sent: int = 0
    held_back: int = 0  # missed today's lesson, but the back-off says not today

    @property
    def idle(self) -> bool:
        return not (self.sent or self.held_back)

    def summary(self) -> str:
        return "nobody to remind" if self.idle else f"{self.sent} reminders, {self.held_back} held back (back-off)"


def reminder_text(coach: Coach, row: sqlite3.Row, today: date) -> tuple[str, dict]:
    """The personal reminder: name, the streak at risk tonight, and the lesson waiting. Returns (body, variables)."""
    streak = Streak(row["streak"], row["best_streak"], row["streak_freezes"], row["last_active_date"])
    days = current_streak(streak, today.isoformat(), coach.lesson_days)
    name = (row["name"] or row["profile_name"] or "").split(" ")[0]
    values = dict(name=name, lesson=row["title"], minutes=row["minutes"], days=days)
    key = "reminder.streak" if days > 0 else "reminder.plain"
    body = coach.texts.t(row["language"], key, **values)
    return body, {"1": name, "2": row["title"]}  # ContentVariables for the approved 'reminder' template


def _missed(conn: sqlite3.Connection, tz: str, today: str, due_before: str) -> list[sqlite3.Row]:
    """Learners in this zone whose daily lesson today (due before `due_before`, an ISO instant: SINCE_LESSON before
    the reminder hour) is not completed (or still held for their reply to the nudge: it names the lesson waiting)
    and who got no reminder today."""
    return conn.execute(
        """SELECT l.id, l.name, l.profile_name, l.language, l.channel, l.channel_key, l.streak, l.best_streak,
                  l.streak_freezes, l.last_active_date, l.last_inbound_at, le.title, le.minutes
           FROM deliveries d JOIN learners l ON l.id = d.learner_id
           LEFT JOIN deliveries h ON h.learner_id = d.learner_id AND h.kind = 'held_lesson' AND h.key = d.key
                AND h.status = 'pending'
           JOIN lessons le ON le.id = COALESCE(d.lesson_id, h.lesson_id)
           LEFT JOIN progress p ON p.learner_id = d.learner_id AND p.lesson_id = le.id
           WHERE d.kind = 'daily_lesson' AND d.key = ? AND d.status = 'done' AND l.timezone = ? AND d.due_at <= ?
             AND l.status = 'active' AND l.opted_out = 0 AND p.completed_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM deliveries r WHERE r.learner_id = l.id AND r.kind = 'reminder'
                             AND r.key = ?)""",
        (today, tz, due_before, today),
    ).fetchall()


def run_reminders(conn: sqlite3.Connection, coach: Coach, now: datetime) -> ReminderReport:
    """For each zone where it is now the reminder hour (and not quiet), nudge those who missed today's lesson."""
    report = ReminderReport()
    schedule = coach.settings.schedule
    at = time(schedule.reminder_hour, 0)
    zones = [r[0] for r in conn.execute("SELECT DISTINCT timezone FROM learners WHERE status = 'active'")]
    lesson_days = coach.lesson_days
    for tz in zones:
        today = timing.local_day(now, tz)
        if today.weekday() not in lesson_days:
            continue  # no lesson today ([schedule] lesson_days): nothing to remind of (a NEXT lesson is their own)
        start = timing.local_instant(today, at, tz)
        if not start <= now < start + WINDOW or coach.quiet.is_quiet(now, tz):
            continue
        with transaction(conn):
            missed = _missed(conn, tz, today.isoformat(), (start - SINCE_LESSON).isoformat())
            # One back-off for reminders and lesson nudges: a learner nudged today (the held lesson's nudge) gets
            # no reminder too, and the silent days count both (learning.backoff).
            prompted = progress.prompts(conn, {row["id"]: (tz, row["last_inbound_at"]) for row in missed})
            for row in missed:
                if not may_prompt(
                    today,
                    prompted.get(row["id"], Prompts()),
                    daily_days=schedule.reminder_daily_days,
                    gaps=coach.backoff,
                ):
                    report.held_back += 1
                    continue
                body, variables = reminder_text(coach, row, today)
                key = f"{KIND}:{row['id']}:{today.isoformat()}"
                conn.execute(
                    """INSERT INTO deliveries (learner_id, kind, key, due_at, status, created_at)
                       VALUES (?, 'reminder', ?, ?, 'done', ?) ON CONFLICT DO NOTHING""",
                    (row["id"], today.isoformat(), start.isoformat(), now.isoformat()),
                )
                enqueue_outbound(
                    conn,
                    learner_id=row["id"],
                    channel=row["channel"],
                    address=row["channel_key"],
                    draft=OutboxDraft(
                        body,
                        kind="reminder",
                        idempotency_key=key,
                        template_key="reminder",
                        content_variables=variables,
                        proactive=True,
                    ),
                    now=now,
                )
                report.sent += 1
    return report
