"""Read-only counts: live learner and outbox numbers, and the daily_stats roll-up series."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta


def live_counts(conn: sqlite3.Connection, now: datetime) -> dict:
    """Numbers that must be current; each is one indexed query (no scan of the messages table)."""
    day_ago = (now - timedelta(days=1)).isoformat()
    week_ago = (now - timedelta(days=7)).isoformat()
    month_ago = (now - timedelta(days=30)).isoformat()
    one = lambda sql, *args: conn.execute(sql, args).fetchone()[0]  # noqa: E731
    counts = {
        "learners": one("SELECT COUNT(*) FROM learners WHERE status != 'deleted'"),
        "active_1d": one("SELECT COUNT(*) FROM learners WHERE last_inbound_at >= ?", day_ago),
        "active_7d": one("SELECT COUNT(*) FROM learners WHERE last_inbound_at >= ?", week_ago),
        "active_30d": one("SELECT COUNT(*) FROM learners WHERE last_inbound_at >= ?", month_ago),
        "opted_out": one(
            "SELECT COUNT(*) FROM learners WHERE status IN ('onboarding','active','paused','finished') "
            "AND opted_out = 1"
        ),
        # Going out now (due or being sent), apart from what waits for a later time: held for quiet hours,
        # scheduled, backing off. Both on messages_outbox_due (status, next_attempt_at).
        # Two counts, not one with OR: with the OR SQLite's planner scanned the whole status index (314 ms at
        # 5,000,000 messages, and the dashboard's live stream reads this every few seconds).
        "queued": one("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'sending'")
        + one(
            "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status IN ('queued', 'retry') "
            "AND next_attempt_at <= ?",
            now.isoformat(),
        ),
        "later": one(
            "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status IN ('queued', 'retry') "
            "AND next_attempt_at > ?",
            now.isoformat(),
        ),
        "waiting": one("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'waiting'"),
        "failed_7d": one(
            "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status IN ('failed', 'undelivered') "
            "AND created_at >= ?",
            week_ago,
        ),
    }
    return counts


# daily_stats metrics the dashboard reads (all courses, all cohorts: course_id = 0, cohort = ''). The roll-up
# task writes them; docs/admin.md lists them.
SERIES_METRICS = (
    "active_learners",
    "lessons_delivered",
    "lessons_completed",
    "quiz_average",
    "opt_outs",
    "messages_sent",
    "messages_delivered",
    "messages_failed",
    "lesson_days",  # these two: the share of lesson days inside the 24-hour window (store.dashboard)
    "lesson_days_in_window",
)


def daily_series(conn: sqlite3.Connection, start: str, end: str) -> dict[str, dict[str, float]]:
    """{metric: {date: value}} for the whole box between two local dates (inclusive): one primary-key range scan."""
    placeholders = ",".join("?" * len(SERIES_METRICS))
    series: dict[str, dict[str, float]] = {m: {} for m in SERIES_METRICS}
    for date, metric, value in conn.execute(
        f"""SELECT date, metric, value FROM daily_stats
            WHERE date BETWEEN ? AND ? AND course_id = 0 AND cohort = '' AND metric IN ({placeholders})""",
        (start, end, *SERIES_METRICS),
    ):
        series[metric][date] = value
    return series


def streak_distribution(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Learners by current streak length (learners still taking lessons)."""
    buckets = {"0 days": 0, "1–2": 0, "3–6": 0, "7–13": 0, "14–29": 0, "30+": 0}
    for bucket, count in conn.execute(
        """SELECT CASE WHEN streak = 0 THEN '0 days' WHEN streak < 3 THEN '1–2' WHEN streak < 7 THEN '3–6'
                       WHEN streak < 14 THEN '7–13' WHEN streak < 30 THEN '14–29' ELSE '30+' END, COUNT(*)
           FROM learners WHERE status IN ('active', 'onboarding') GROUP BY 1"""
    ):
        buckets[bucket] = count
    return list(buckets.items())


def outbox_by_status(conn: sqlite3.Connection, since: str) -> list[tuple[str, int]]:
    """Outbound messages created since `since` by status (the partial status/created index)."""
    order = ("queued", "retry", "sending", "waiting", "sent", "delivered", "read", "failed", "undelivered", "cancelled")
    counts = dict.fromkeys(order, 0)
    for status in order:
        counts[status] = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = ? AND created_at >= ?", (status, since)
        ).fetchone()[0]
    return [(s, c) for s, c in counts.items() if c or s in ("queued", "sent", "delivered", "failed")]


def failed_codes(conn: sqlite3.Connection, since: str, limit: int = 8) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT error_code, COUNT(*) AS n FROM messages
           WHERE direction = 'out' AND status IN ('failed', 'undelivered') AND created_at >= ?
           GROUP BY error_code ORDER BY n DESC LIMIT ?""",
        (since, limit),
    ).fetchall()


# -- one course: the funnel and how hard each question is (live queries: docs/admin.md has their cost) ---------

FUNNEL_STEPS = ("started", "lesson 1 delivered", "quiz taken", "passed a quiz", "finished")


def course_funnel(conn: sqlite3.Connection, course_id: int) -> list[tuple[str, int]]:
    """Learners at each step of a course: enrolled, got its first lesson, finished a quiz, passed one, completed
    the course. Each step counts learners, not attempts: from the tallies the writes keep (migration 0027), the
    same figures as course_funnel_from_rows at a fraction of the cost."""
    started, finished = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(status = 'completed'), 0) FROM enrollments WHERE course_id = ?", (course_id,)
    ).fetchone()
    first = conn.execute(
        """SELECT COALESCE((SELECT delivered FROM lesson_tallies WHERE lesson_id = (
               SELECT id FROM lessons WHERE course_id = ? ORDER BY position, slug LIMIT 1)), 0)""",
        (course_id,),
    ).fetchone()[0]
    taken, passed = conn.execute(
        """SELECT COALESCE(SUM(quizzes > 0), 0), COALESCE(SUM(passes > 0), 0) FROM course_learners
           WHERE course_id = ?""",
        (course_id,),
    ).fetchone()
    return list(zip(FUNNEL_STEPS, (started, first, taken, passed, finished), strict=True))


def question_difficulty(conn: sqlite3.Connection, course_id: int) -> list[sqlite3.Row]:
    """Each published question of a course, in lesson order: how many learners answered it and how many of them
    were right at their first try (their first answer to it; retakes and reviews come later). One row per question
    from question_tallies (migration 0027), the same figures as question_difficulty_from_answers."""
    return conn.execute(
        """SELECT q.id, l.id AS lesson_id, l.position AS lesson_position, l.title AS lesson_title,
                  q.position, q.prompt, COALESCE(t.answered, 0) AS answered, COALESCE(t.right_first, 0) AS right_first
           FROM questions q JOIN lessons l ON l.id = q.lesson_id LEFT JOIN question_tallies t ON t.question_id = q.id
           WHERE l.course_id = ? AND l.published = 1 AND q.published = 1
           ORDER BY l.position, l.slug, q.position""",
        (course_id,),
    ).fetchall()


def course_funnel_from_rows(conn: sqlite3.Connection, course_id: int) -> list[tuple[str, int]]:
    """course_funnel computed from every progress row (before migration 0027; the tests and the bench compare).
    Learners at each step of a course: enrolled, got its first lesson, finished a quiz, passed one, completed
    the course. Each step counts learners, not attempts; three indexed queries."""
    started, finished = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(status = 'completed'), 0) FROM enrollments WHERE course_id = ?", (course_id,)
    ).fetchone()
    first = conn.execute(
        """SELECT COUNT(*) FROM progress WHERE delivered_at IS NOT NULL AND lesson_id = (
               SELECT id FROM lessons WHERE course_id = ? ORDER BY position, slug LIMIT 1)""",
        (course_id,),
    ).fetchone()[0]
    taken, passed = conn.execute(
        """SELECT COUNT(*), COALESCE(SUM(passed), 0) FROM (
               SELECT p.learner_id, MAX(p.passed) AS passed FROM progress p
               WHERE p.lesson_id IN (SELECT id FROM lessons WHERE course_id = ?)
                 AND p.completed_at IS NOT NULL AND p.total > 0
               GROUP BY p.learner_id)""",
        (course_id,),
    ).fetchone()
    return list(zip(FUNNEL_STEPS, (started, first, taken, passed, finished), strict=True))


def question_difficulty_from_answers(conn: sqlite3.Connection, course_id: int) -> list[sqlite3.Row]:
    """question_difficulty computed from every answer (before migration 0027; the tests and the bench compare).
    Each published question of a course, in lesson order: how many learners answered it and how many of them
    were right at their first try (their first answer to it; retakes and reviews come later)."""
    return conn.execute(
        # SQLite takes a bare column of a MIN() aggregate from the row that has the minimum: each learner's
        # first answer to each question, in one pass over the course's answers (answers_question index).
        """WITH firsts AS (
               SELECT a.question_id, a.correct, MIN(a.id) FROM answers a
               WHERE a.question_id IN (
                   SELECT q2.id FROM questions q2 JOIN lessons l2 ON l2.id = q2.lesson_id WHERE l2.course_id = ?)
               GROUP BY a.question_id, a.learner_id
           )
           SELECT q.id, l.id AS lesson_id, l.position AS lesson_position, l.title AS lesson_title,
                  q.position, q.prompt, COUNT(f.question_id) AS answered, COALESCE(SUM(f.correct), 0) AS right_first
           FROM questions q JOIN lessons l ON l.id = q.lesson_id LEFT JOIN firsts f ON f.question_id = q.id
           WHERE l.course_id = ? AND l.published = 1 AND q.published = 1
           GROUP BY q.id ORDER BY l.position, l.slug, q.position""",
        (course_id, course_id),
    ).fetchall()
