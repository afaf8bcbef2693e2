"""The weekly summary: every Sunday, just before that day's lesson, the learner's week in one message."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from coachbox.conversation.lessons import FOLD_MARGIN, WINDOW
from coachbox.learning.lessondays import EVERY_DAY
from coachbox.learning.progress import percent
from coachbox.learning.streaks import Streak, current_streak
from coachbox.schedule.coach import Coach
from coachbox.store import schedule as q
from coachbox.store.messages import OutboxDraft, enqueue_outbound

KIND = "weekly_summary"
SUNDAY = 6


def summary_day(lesson_days: tuple[int, ...]) -> int:
    """The weekday the summary comes with the lesson: Sunday, or without a Sunday lesson ([schedule] lesson_days)
    the week's first lesson day (Monday on school days)."""
    return SUNDAY if SUNDAY in lesson_days or not lesson_days else min(lesson_days)


@dataclass(frozen=True)
class Week:
    """What the summary says, gathered from the database (pure data for the text)."""

    name: str
    lessons: int
    correct: int
    total: int
    streak: int
    best: int
    badges: tuple[str, ...]
    next_lesson: str | None
    has_course: bool


def week_text(texts, language: str, week: Week) -> str:
    t = lambda key, **v: texts.t(language, key, **v)  # noqa: E731
    lines = [t("summary.title", name=week.name), t("summary.lessons", count=week.lessons)]
    lines.append(t("summary.quiz", percent=percent(week.correct, week.total)) if week.total else t("summary.no_quiz"))
    lines.append(t("summary.streak", days=week.streak, best=week.best))
    if week.badges:
        lines.append(t("summary.badges", badges=", ".join(week.badges)))
    if week.next_lesson:
        lines.append(t("summary.next_lesson", lesson=week.next_lesson))
    elif week.has_course:
        lines.append(t("summary.next_course"))
    else:
        lines.append(t("summary.next_streak", days=max(3, week.streak + 1)))
    return "\n".join(lines)


def gather(
    conn: sqlite3.Connection,
    learner_id: int,
    today: date,
    now: datetime,
    lesson_days: tuple[int, ...] = EVERY_DAY,
) -> tuple[Week, sqlite3.Row]:
    row = conn.execute("SELECT * FROM learners WHERE id = ?", (learner_id,)).fetchone()
    since = (today - timedelta(days=6)).isoformat()
    done = conn.execute(
        """SELECT COUNT(*), COALESCE(SUM(correct), 0), COALESCE(SUM(total), 0) FROM progress
           WHERE learner_id = ? AND completed_local_date BETWEEN ? AND ?""",
        (learner_id, since, today.isoformat()),
    ).fetchone()
    badges = []
    for code, names, emoji in conn.execute(
        """SELECT b.code, d.names, d.emoji FROM learner_badges b LEFT JOIN badge_definitions d ON d.code = b.code
               WHERE b.learner_id = ? AND b.awarded_at >= ? ORDER BY b.id""",
        (learner_id, (now - timedelta(days=7)).isoformat()),
    ):
        table = json.loads(names or "{}")
        badges.append(f"{emoji} {table.get(row['language']) or table.get('en') or code}".strip())
    upcoming = conn.execute(
        """SELECT l.title FROM enrollments e JOIN lessons l ON l.course_id = e.course_id AND l.position >= e.next_position
           WHERE e.learner_id = ? AND e.course_id = ? AND l.published = 1 ORDER BY l.position LIMIT 1""",
        (learner_id, row["current_course_id"]),
    ).fetchone()
    streak = Streak(row["streak"], row["best_streak"], row["streak_freezes"], row["last_active_date"])
    week = Week(
        name=(row["name"] or row["profile_name"] or "").split(" ")[0],
        lessons=done[0],
        correct=done[1],
        total=done[2],
        streak=current_streak(streak, today.isoformat(), lesson_days),
        best=row["best_streak"],
        badges=tuple(badges),
        next_lesson=upcoming[0] if upcoming else None,
        has_course=row["current_course_id"] is not None and upcoming is None,
    )
    return week, row


def before_lesson(conn: sqlite3.Connection, coach: Coach, learner_id: int, today: date, now: datetime) -> None:
    """A daily-lesson step: on the learner's Sunday (or first lesson day of the week, summary_day), the summary
    goes out just before the lesson."""
    if today.weekday() != summary_day(coach.lesson_days):
        return
    year, week_no, _ = today.isocalendar()
    key = f"{year}-W{week_no:02d}"
    if not _window_open(conn, learner_id, now):
        # A silent learner gets one proactive template a day at most, and on a lesson day that is the lesson
        # nudge (or nothing: the back-off, learning.backoff): no summary template beside it. Recorded, not sent.
        q.claim(conn, learner_id, KIND, key, due_at=now, status="skipped_silent", now=now)
        return
    if not q.claim(conn, learner_id, KIND, key, due_at=now, status="done", now=now):
        return
    week, row = gather(conn, learner_id, today, now, coach.lesson_days)
    body = week_text(coach.texts, row["language"], week)
    enqueue_outbound(
        conn,
        learner_id=learner_id,
        channel=row["channel"],
        address=row["channel_key"],
        draft=OutboxDraft(
            body,
            kind="summary",
            idempotency_key=f"{KIND}:{learner_id}:{key}",
            template_key="summary",
            content_variables={"1": week.name},
            proactive=True,
        ),
        now=now,
    )


def _window_open(conn: sqlite3.Connection, learner_id: int, now: datetime) -> bool:
    """The learner's 24-hour window stays open past the lesson's margin (else that day's lesson is held)."""

    last = conn.execute("SELECT last_inbound_at FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
    return bool(last) and datetime.fromisoformat(last) + WINDOW > now + FOLD_MARGIN
