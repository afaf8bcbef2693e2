"""The teacher's dashboard and course page queries: roll-ups per course and class, learners at risk, lessons."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta

SILENT_DAYS = 3  # no message from the learner for this many days while taking a course: "stopped answering"
SILENT_UNTIL_DAYS = 30  # longer than this is gone rather than at risk (the Learners page's "silent for N days")
FAILED_IN_A_ROW = 2  # "failing repeatedly": this many quizzes failed within FAILING_DAYS, and none passed since
FAILING_DAYS = 14
AT_RISK_SHOWN = 12
MEDIAN_OF = 1000  # a lesson's time to finish: the median of its latest this-many finishers (how long it takes now)


def rollup_by_group(conn: sqlite3.Connection, start: str, end: str) -> tuple[list[dict], list[dict]]:
    """The nightly roll-up's per-course and per-class rows between two local dates (inclusive), summed: lessons
    delivered and completed, the quiz average weighted by completed lessons, and (classes) learners active a day on
    average. One primary-key range scan of daily_stats. Returns (courses, classes)."""
    courses: dict[int, dict] = defaultdict(lambda: {"delivered": 0.0, "completed": 0.0, "quiz_points": 0.0})
    classes: dict[str, dict] = defaultdict(
        lambda: {"completed": 0.0, "quiz_points": 0.0, "active_days": 0.0, "active_sum": 0.0}
    )
    rows = conn.execute(
        """SELECT date, course_id, cohort, metric, value FROM daily_stats
           WHERE date BETWEEN ? AND ? AND (course_id != 0 OR cohort != '')""",
        (start, end),
    ).fetchall()
    completed_of = {(r[0], r[1], r[2]): r[4] for r in rows if r[3] == "lessons_completed"}
    for date, course_id, cohort, metric, value in rows:
        group = courses[course_id] if course_id else classes[cohort]
        if metric == "lessons_delivered":
            group["delivered"] += value
        elif metric == "lessons_completed":
            group["completed"] += value
        elif metric == "quiz_average":
            group["quiz_points"] += value * completed_of.get((date, course_id, cohort), 0)
        elif metric == "active_learners":
            group["active_sum"] += value
            group["active_days"] += 1
    titles = dict(conn.execute("SELECT id, title FROM courses").fetchall())
    sizes = dict(  # the learners_cohort index alone (no look-up of each learner's row)
        conn.execute(
            "SELECT cohort, COUNT(*) FROM learners WHERE cohort IS NOT NULL AND cohort != '' GROUP BY cohort"
        ).fetchall()
    )
    course_rows = [
        {
            "id": course_id,
            "title": titles.get(course_id, f"course {course_id}"),
            "delivered": int(g["delivered"]),
            "completed": int(g["completed"]),
            "quiz_average": g["quiz_points"] / g["completed"] if g["completed"] else None,
        }
        for course_id, g in courses.items()
        if course_id in titles
    ]
    class_rows = [
        {
            "cohort": cohort,
            "learners": sizes.get(cohort, 0),
            "active_per_day": g["active_sum"] / max(1, _days(start, end)),
            "completed": int(g["completed"]),
            "quiz_average": g["quiz_points"] / g["completed"] if g["completed"] else None,
        }
        for cohort, g in classes.items()
    ]
    for cohort, size in sizes.items():  # a class with no activity at all this week is worth seeing too
        if cohort not in classes:
            class_rows.append(
                {"cohort": cohort, "learners": size, "active_per_day": 0.0, "completed": 0, "quiz_average": None}
            )
    course_rows.sort(key=lambda r: (-r["delivered"], r["title"]))
    class_rows.sort(key=lambda r: r["cohort"].casefold())
    return course_rows, class_rows


def _days(start: str, end: str) -> int:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).days + 1


def at_risk(
    conn: sqlite3.Connection, now: datetime, today: str, scope: tuple[str, list], *, limit: int = AT_RISK_SHOWN
) -> dict:
    """Learners taking a course who stopped answering (silent SILENT_DAYS to SILENT_UNTIL_DAYS) or failed
    FAILED_IN_A_ROW or more quizzes within FAILING_DAYS and passed none since the first of them, in the admin's scope: {"silent": [...], "failing": [...],
    "silent_total": n, "failing_total": n}. `today`: the organisation's local date (the nudge's key)."""
    where, params = scope
    silent_since = (now - timedelta(days=SILENT_DAYS)).isoformat()
    silent_until = (now - timedelta(days=SILENT_UNTIL_DAYS)).isoformat()
    # admin_learners_last_inbound: a range of the index, newest silence first (the likeliest to come back).
    silent_sql = f"""FROM learners WHERE last_inbound_at < ? AND last_inbound_at >= ? AND status = 'active'
                     AND opted_out = 0 AND current_course_id IS NOT NULL AND ({where})"""
    silent_args = (silent_since, silent_until, *params)
    silent_total = conn.execute(f"SELECT COUNT(*) {silent_sql}", silent_args).fetchone()[0]
    silent = conn.execute(
        f"""SELECT id, name, phone, cohort, last_inbound_at, channel, channel_key, language, timezone, opted_out
            {silent_sql} ORDER BY last_inbound_at DESC LIMIT ?""",
        (*silent_args, limit),
    ).fetchall()
    since_day = (datetime.fromisoformat(today) - timedelta(days=FAILING_DAYS)).date().isoformat()
    # The learners with FAILED_IN_A_ROW or more fails since `since_day` (the partial index progress_failed, covered),
    # kept when they passed no quiz after the first of those fails (one probe of progress_passed each).
    failing_rows = conn.execute(
        f"""WITH failing AS (
                SELECT learner_id, COUNT(*) AS failed, MIN(completed_at) AS first_fail, SUM(correct) AS correct,
                       SUM(total) AS total
                FROM progress WHERE completed_local_date >= ? AND total > 0 AND passed = 0
                GROUP BY +learner_id HAVING COUNT(*) >= ?  -- "+": group in a temp tree, never scan all progress
            )
            SELECT learners.id, learners.name, learners.phone, learners.cohort, learners.last_inbound_at,
                   learners.channel, learners.channel_key, learners.language, learners.timezone, learners.opted_out,
                   failing.failed, failing.correct, failing.total
            FROM failing JOIN learners ON learners.id = failing.learner_id
            WHERE learners.status = 'active' AND learners.opted_out = 0 AND ({where})
              AND NOT EXISTS (SELECT 1 FROM progress p WHERE p.learner_id = failing.learner_id AND p.total > 0
                              AND p.passed = 1 AND p.completed_at > failing.first_fail)
            ORDER BY learners.last_inbound_at DESC""",
        (since_day, FAILED_IN_A_ROW, *params),
    ).fetchall()
    shown = [r["id"] for r in silent] + [r["id"] for r in failing_rows[:limit]]
    nudged = nudged_on(conn, shown, today)
    return {
        "silent": [{**dict(r), "nudged": r["id"] in nudged} for r in silent],
        "failing": [{**dict(r), "nudged": r["id"] in nudged} for r in failing_rows[:limit]],
        "silent_total": silent_total,
        "failing_total": len(failing_rows),
    }


def lesson_days_on(conn: sqlite3.Connection, day: str) -> tuple[int, int]:
    """(lesson days on the learners' local date `day`, those of them sent inside WhatsApp's 24-hour window): the
    share the dashboard shows (#19), a day at a time for the nightly roll-up (metrics lesson_days and
    lesson_days_in_window). A lesson day is a daily lesson sent, or held for the learner's reply (held_lesson: a
    paid nudge template first, or silence when the back-off said no); a day with nothing to send is none. One range
    of schedule_deliveries_kind_key, each probed once in the (learner_id, kind, key) key."""
    total, inside = conn.execute(
        """SELECT COUNT(*), COALESCE(SUM(h.learner_id IS NULL), 0)
           FROM deliveries d LEFT JOIN deliveries h
                ON h.learner_id = d.learner_id AND h.kind = 'held_lesson' AND h.key = d.key
           WHERE d.kind = 'daily_lesson' AND d.key = ?
             AND (d.status = 'done' OR (d.status = 'empty' AND h.learner_id IS NOT NULL))""",
        (day,),
    ).fetchone()
    return total, inside


def nudge_key(learner_id: int, today: str) -> str:
    """The outbox idempotency key of a teacher's one-click nudge: one per learner per (organisation) day."""
    return f"teacher-nudge:{learner_id}:{today}"


def nudged_on(conn: sqlite3.Connection, learner_ids: list[int], today: str) -> set[int]:
    """Which of these learners a teacher nudged today (the unique idempotency_key index)."""
    found = set()
    for learner_id in learner_ids:  # one probe each: with a list, SQLite's planner may choose to scan the table
        key = nudge_key(learner_id, today)
        if conn.execute("SELECT 1 FROM messages WHERE idempotency_key = ?", (key,)).fetchone():
            found.add(learner_id)
    return found


def learner_in_scope(conn: sqlite3.Connection, learner_id: int, scope: tuple[str, list]) -> sqlite3.Row | None:
    """One learner, if the admin may see them."""
    where, params = scope
    return conn.execute(
        f"SELECT * FROM learners WHERE learners.id = ? AND status != 'deleted' AND ({where})", (learner_id, *params)
    ).fetchone()


# -- one course: per lesson and the wrong answers per question (the course page's learning figures) -------------


def lesson_counts(conn: sqlite3.Connection, course_id: int) -> dict[int, tuple[int, int]]:
    """{lesson id: (progress rows delivered, completed)} of a course's lessons, from lesson_tallies (migration
    0027: kept by triggers as progress is written), the same figures as lesson_counts_from_rows."""
    return {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            """SELECT t.lesson_id, t.delivered, t.completed FROM lesson_tallies t
               WHERE t.lesson_id IN (SELECT id FROM lessons WHERE course_id = ?)""",
            (course_id,),
        )
    }


def lesson_counts_from_rows(conn: sqlite3.Connection, course_id: int) -> dict[int, tuple[int, int]]:
    """lesson_counts counted from every progress row of the course (the tests and the bench compare)."""
    return {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            """SELECT p.lesson_id, COUNT(p.delivered_at), COUNT(p.completed_at) FROM progress p
               WHERE p.lesson_id IN (SELECT id FROM lessons WHERE course_id = ?) GROUP BY p.lesson_id""",
            (course_id,),
        )
    }


def lesson_completion(conn: sqlite3.Connection, course_id: int, *, from_rows: bool = False) -> list[dict]:
    """Each published lesson of a course in order: learners it was delivered to, how many finished it (its quiz
    done, or read when it has none), and the median time from delivery to finishing of its latest MEDIAN_OF
    finishers (minutes; None: nobody yet). The counts come from lesson_tallies (from_rows: counted from progress,
    as before migration 0027); the medians from the end of each lesson's range of the covering index
    progress_lesson (migration 0025)."""
    lessons = conn.execute(
        "SELECT id, position, title FROM lessons WHERE course_id = ? AND published = 1 ORDER BY position, slug",
        (course_id,),
    ).fetchall()
    found = (lesson_counts_from_rows if from_rows else lesson_counts)(conn, course_id)
    result = []
    for lesson in lessons:
        delivered, completed = found.get(lesson["id"], (0, 0))
        median = None
        if completed:  # the middle one of the latest MEDIAN_OF finishers: the end of the lesson's index range
            median = conn.execute(
                """SELECT spent FROM (
                       SELECT (julianday(completed_at) - julianday(delivered_at)) * 1440 AS spent FROM progress
                       WHERE lesson_id = ? AND completed_at IS NOT NULL AND delivered_at IS NOT NULL
                       ORDER BY completed_at DESC LIMIT ?)
                   ORDER BY spent LIMIT 1 OFFSET ?""",
                (lesson["id"], MEDIAN_OF, (min(completed, MEDIAN_OF) - 1) // 2),
            ).fetchone()
        result.append(
            {
                "id": lesson["id"],
                "position": lesson["position"],
                "title": lesson["title"],
                "delivered": delivered,
                "completed": completed,
                "share": completed / delivered if delivered else None,
                "median_minutes": max(0.0, median[0]) if median and median[0] is not None else None,
            }
        )
    return result


def common_wrong_answers(
    conn: sqlite3.Connection, course_id: int, per_question: int = 3, *, from_rows: bool = False
) -> dict[int, list]:
    """{question id: [(given, learners), …]}: the most common wrong answers to each question of a course (a
    learner counts once per answer they gave), most common first: from wrong_answers (migration 0027, kept by
    triggers as answers are written), or (from_rows) counted from every wrong answer as before (answers_wrong)."""
    found: dict[int, list] = defaultdict(list)
    rows = conn.execute(
        """SELECT a.question_id, a.given, COUNT(DISTINCT a.learner_id) AS n FROM answers a
           WHERE a.correct = 0 AND a.question_id IN (
               SELECT q.id FROM questions q JOIN lessons l ON l.id = q.lesson_id WHERE l.course_id = ?)
           GROUP BY a.question_id, a.given ORDER BY a.question_id, n DESC, a.given"""
        if from_rows
        else """SELECT w.question_id, w.given, w.learners AS n FROM wrong_answers w
           WHERE w.learners > 0 AND w.question_id IN (
               SELECT q.id FROM questions q JOIN lessons l ON l.id = q.lesson_id WHERE l.course_id = ?)
           ORDER BY w.question_id, n DESC, w.given""",
        (course_id,),
    )
    for question_id, given, learners in rows:
        if len(found[question_id]) < per_question:
            found[question_id].append((given, learners))
    return dict(found)


def question_choices(conn: sqlite3.Connection, course_id: int) -> dict[int, tuple[str, str]]:
    """{question id: (kind, choices JSON)} for a course's questions: to show a choice's text beside its letter."""
    return {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT q.id, q.kind, q.choices FROM questions q JOIN lessons l ON l.id = q.lesson_id "
            "WHERE l.course_id = ?",
            (course_id,),
        )
    }
