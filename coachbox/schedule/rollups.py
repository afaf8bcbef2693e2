"""Nightly roll-ups into daily_stats, so the admin dashboard never scans the raw message tables."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, time, timedelta

from coachbox.learning import timing
from coachbox.store import dashboard, learners, messages, transaction

LESSON_KINDS = ("daily_lesson", "next_lesson", "first_lesson")
# Outbound statuses that mean "left the box" / "reached the phone" / "did not make it".
LEFT = ("sent", "delivered", "read", "undelivered")
ARRIVED = ("delivered", "read")
FAILED = ("failed", "undelivered")


def day_bounds(day: date, tz: str) -> tuple[str, str]:
    """[local midnight, next local midnight) as stored UTC text (a DST day is 23 or 25 hours long)."""
    start = timing.local_instant(day, time(0, 0), tz)
    end = timing.local_instant(day + timedelta(days=1), time(0, 0), tz)
    return start.isoformat(), end.isoformat()


def compute(conn: sqlite3.Connection, day: date, tz: str, *, groups: bool = True) -> list[tuple]:
    """(date, course_id, cohort, metric, value) rows for one local day: whole box, per course, per cohort (only the
    whole box with groups=False: the dashboard's live "today")."""
    start, end = day_bounds(day, tz)
    d = day.isoformat()
    rows: list[tuple] = []

    def one(sql: str, *args) -> float:
        return float(conn.execute(sql, args).fetchone()[0] or 0)

    marks = ",".join("?" * len(LESSON_KINDS))
    rows.append((d, 0, "", "active_learners", float(messages.active_learner_count(conn, start, end))))
    rows.append(
        (
            d,
            0,
            "",
            "lessons_delivered",
            one(
                f"SELECT COUNT(*) FROM deliveries WHERE kind IN ({marks}) AND status = 'done' AND created_at >= ? "
                "AND created_at < ?",
                *LESSON_KINDS,
                start,
                end,
            ),
        )
    )
    completed = conn.execute(
        """SELECT COUNT(*), AVG(CASE WHEN total > 0 THEN 100.0 * correct / total END) FROM progress
           WHERE completed_local_date = ?""",
        (d,),
    ).fetchone()
    rows.append((d, 0, "", "lessons_completed", float(completed[0])))
    rows.append((d, 0, "", "quiz_average", round(completed[1] or 0, 1)))
    by_status = messages.outbound_status_counts(conn, start, end)
    for status, count in by_status.items():
        rows.append((d, 0, "", f"messages_status_{status}", float(count)))
    rows.append((d, 0, "", "messages_sent", float(sum(by_status.get(s, 0) for s in LEFT))))
    rows.append((d, 0, "", "messages_delivered", float(sum(by_status.get(s, 0) for s in ARRIVED))))
    rows.append((d, 0, "", "messages_failed", float(sum(by_status.get(s, 0) for s in FAILED))))
    # Every way of opting out (a keyword of any language, Twilio's OptOutType, error 21610), as recorded.
    rows.append((d, 0, "", "opt_outs", float(learners.opt_out_count(conn, start, end))))
    # Lesson days of that (learner-local) date, and those sent inside the 24-hour window: the dashboard's share.
    lesson_days, in_window = dashboard.lesson_days_on(conn, d)
    rows.append((d, 0, "", "lesson_days", float(lesson_days)))
    rows.append((d, 0, "", "lesson_days_in_window", float(in_window)))
    if not groups:
        return rows
    for course_id, delivered in conn.execute(
        f"""SELECT l.course_id, COUNT(*) FROM deliveries d JOIN lessons l ON l.id = d.lesson_id
                WHERE d.kind IN ({marks}) AND d.status = 'done' AND d.created_at >= ? AND d.created_at < ?
                GROUP BY l.course_id""",
        (*LESSON_KINDS, start, end),
    ):
        rows.append((d, course_id, "", "lessons_delivered", float(delivered)))
    for course_id, count, average in conn.execute(
        """SELECT l.course_id, COUNT(*), AVG(CASE WHEN p.total > 0 THEN 100.0 * p.correct / p.total END)
               FROM progress p JOIN lessons l ON l.id = p.lesson_id WHERE p.completed_local_date = ?
               GROUP BY l.course_id""",
        (d,),
    ):
        rows += [
            (d, course_id, "", "lessons_completed", float(count)),
            (d, course_id, "", "quiz_average", round(average or 0, 1)),
        ]
    for cohort, count, average in conn.execute(
        """SELECT le.cohort, COUNT(*), AVG(CASE WHEN p.total > 0 THEN 100.0 * p.correct / p.total END)
               FROM progress p JOIN learners le ON le.id = p.learner_id
               WHERE p.completed_local_date = ? AND le.cohort IS NOT NULL AND le.cohort != '' GROUP BY le.cohort""",
        (d,),
    ):
        rows += [
            (d, 0, cohort, "lessons_completed", float(count)),
            (d, 0, cohort, "quiz_average", round(average or 0, 1)),
        ]
    for cohort, active in messages.active_learners_by_cohort(conn, start, end):
        rows.append((d, 0, cohort, "active_learners", float(active)))
    return rows


def roll_up(conn: sqlite3.Connection, day: date, tz: str) -> int:
    """Replace one day's roll-up (idempotent: run it again and the numbers are the same)."""
    rows = compute(conn, day, tz)
    with transaction(conn):
        conn.execute("DELETE FROM daily_stats WHERE date = ?", (day.isoformat(),))
        conn.executemany(
            "INSERT INTO daily_stats (date, course_id, cohort, metric, value) VALUES (?, ?, ?, ?, ?)", rows
        )
    return len(rows)


def roll_up_recent(conn: sqlite3.Connection, now: datetime, tz: str, days: int = 2) -> list[str]:
    """Yesterday and the day before (late status callbacks still change yesterday's message counts)."""
    today = timing.local_day(now, tz)
    done = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        roll_up(conn, day, tz)
        done.append(day.isoformat())
    return done
