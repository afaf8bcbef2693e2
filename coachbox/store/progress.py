"""Queries for learning progress: enrollments, lesson deliveries, quiz answers, completions and badges."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from coachbox.learning.backoff import Prompts
from coachbox.learning.timeparse import local_date


def enroll(conn: sqlite3.Connection, learner_id: int, course_id: int, now: datetime) -> None:
    """Join a course (again): an existing enrollment keeps its place; a dropped one becomes active."""
    conn.execute(
        """INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, ?)
           ON CONFLICT (learner_id, course_id) DO UPDATE SET status = CASE WHEN status = 'dropped'
                THEN 'active' ELSE status END""",
        (learner_id, course_id, now.isoformat()),
    )


def move_to_translation(
    conn: sqlite3.Connection,
    learner_id: int,
    *,
    from_course_id: int,
    to_course_id: int,
    lessons: tuple[tuple[int, int], ...],
    questions: tuple[tuple[int, int], ...],
) -> None:
    """Move a learner's enrollment, progress, answers, review items and pending follow-ups to the translated
    course. Rows are moved, not copied, so school totals and the leaderboard count every lesson once; where
    the learner already has a row for the translated lesson (they studied both), theirs is kept as it is."""
    old = conn.execute(
        "SELECT * FROM enrollments WHERE learner_id = ? AND course_id = ?", (learner_id, from_course_id)
    ).fetchone()
    new = conn.execute(
        "SELECT * FROM enrollments WHERE learner_id = ? AND course_id = ?", (learner_id, to_course_id)
    ).fetchone()
    if old is not None and new is None:
        conn.execute("UPDATE enrollments SET course_id = ? WHERE id = ?", (to_course_id, old["id"]))
    elif old is not None:
        conn.execute(
            """UPDATE enrollments SET next_position = MAX(next_position, ?),
                      status = CASE WHEN ? = 'completed' OR status = 'completed' THEN 'completed' ELSE 'active' END,
                      completed_at = COALESCE(completed_at, ?), score = MAX(COALESCE(score, 0), COALESCE(?, 0))
               WHERE id = ?""",
            (old["next_position"], old["status"], old["completed_at"], old["score"], new["id"]),
        )
        conn.execute("DELETE FROM enrollments WHERE id = ?", (old["id"],))
    for old_lesson, new_lesson in lessons:
        # OR IGNORE: a row the learner already has for the translated lesson wins (UNIQUE learner, lesson).
        conn.execute(
            "UPDATE OR IGNORE progress SET lesson_id = ? WHERE learner_id = ? AND lesson_id = ?",
            (new_lesson, learner_id, old_lesson),
        )
        conn.execute(
            """UPDATE OR IGNORE deliveries SET lesson_id = ?, key = CASE WHEN kind = 'quiz_followup' THEN ? ELSE key END
               WHERE learner_id = ? AND lesson_id = ? AND status = 'pending'""",
            (new_lesson, str(new_lesson), learner_id, old_lesson),
        )
    for old_question, new_question in questions:
        conn.execute(
            "UPDATE answers SET question_id = ? WHERE learner_id = ? AND question_id = ?",
            (new_question, learner_id, old_question),
        )
        conn.execute(
            "UPDATE OR IGNORE review_items SET question_id = ? WHERE learner_id = ? AND question_id = ?",
            (new_question, learner_id, old_question),
        )
    conn.execute(
        "UPDATE OR IGNORE learner_badges SET course_id = ? WHERE learner_id = ? AND course_id = ?",
        (to_course_id, learner_id, from_course_id),
    )
    # The check-in carries on in the new language too (questions are matched by position, like lessons).
    conn.execute(
        "UPDATE OR IGNORE checkin_answers SET course_id = ? WHERE learner_id = ? AND course_id = ?",
        (to_course_id, learner_id, from_course_id),
    )


def record_delivery(
    conn: sqlite3.Connection,
    learner_id: int,
    *,
    lesson_id: int,
    course_id: int,
    next_position: int,
    kind: str,
    key: str,
    now: datetime,
) -> None:
    stamp = now.isoformat()
    conn.execute(
        """INSERT INTO progress (learner_id, lesson_id, delivered_at) VALUES (?, ?, ?)
           ON CONFLICT (learner_id, lesson_id) DO UPDATE SET delivered_at = excluded.delivered_at""",
        (learner_id, lesson_id, stamp),
    )
    conn.execute(
        """INSERT INTO enrollments (learner_id, course_id, started_at, next_position) VALUES (?, ?, ?, ?)
           ON CONFLICT (learner_id, course_id) DO UPDATE SET next_position = MAX(next_position, excluded.next_position)""",
        (learner_id, course_id, stamp, next_position),
    )
    # 'empty': that day's daily turn wrote nothing (the lesson held without a nudge, the silent learner's back-off);
    # the learner's reply then brought it, so it is that day's lesson after all.
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, 'done', ?) ON CONFLICT (learner_id, kind, key) DO UPDATE
           SET status = 'done', lesson_id = excluded.lesson_id WHERE status = 'empty'""",
        (learner_id, kind, key, lesson_id, stamp, stamp),
    )


def schedule(
    conn: sqlite3.Connection,
    learner_id: int,
    *,
    kind: str,
    key: str,
    lesson_id: int | None,
    due_at: datetime,
    now: datetime,
) -> None:
    """A pending proactive delivery (the scheduler sends it when due, unless it is cancelled first)."""
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?)
           ON CONFLICT (learner_id, kind, key) DO UPDATE SET due_at = excluded.due_at, status = 'pending'""",
        (learner_id, kind, key, lesson_id, due_at.isoformat(), now.isoformat()),
    )


def start_quiz(conn: sqlite3.Connection, learner_id: int, lesson_id: int, now: datetime) -> None:
    stamp = now.isoformat()
    conn.execute(
        """INSERT INTO progress (learner_id, lesson_id, delivered_at, quiz_started_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (learner_id, lesson_id) DO UPDATE SET quiz_started_at = excluded.quiz_started_at""",
        (learner_id, lesson_id, stamp, stamp),
    )
    # The learner started by themselves: the 30-minute follow-up would only repeat the first question.
    conn.execute(
        """UPDATE deliveries SET status = 'cancelled' WHERE learner_id = ? AND kind = 'quiz_followup'
           AND key = ? AND status = 'pending'""",
        (learner_id, str(lesson_id)),
    )


def record_answer(
    conn: sqlite3.Connection, learner_id: int, question_id: int, given: str, correct: bool, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) VALUES (?, ?, ?, ?, ?)",
        (learner_id, question_id, given[:500], int(correct), now.isoformat()),
    )


def complete_lesson(
    conn: sqlite3.Connection,
    learner_id: int,
    *,
    lesson_id: int,
    correct: int,
    total: int,
    passed: bool,
    local_date: str,
    now: datetime,
    missed: tuple[int, ...] = (),
) -> None:
    """Count an attempt; keep the best score (by percent); completed_at stays the first completion; missed is the
    latest attempt's (the questions a retry asks: learning.progress.retry_questions)."""
    stamp = now.isoformat()
    conn.execute(
        """INSERT INTO progress (learner_id, lesson_id, delivered_at, completed_at, completed_local_date, correct,
                                 total, attempts, passed, missed)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
           ON CONFLICT (learner_id, lesson_id) DO UPDATE SET
               attempts = attempts + 1,
               missed = excluded.missed,
               completed_at = COALESCE(completed_at, excluded.completed_at),
               completed_local_date = COALESCE(completed_local_date, excluded.completed_local_date),
               passed = MAX(passed, excluded.passed),
               correct = CASE WHEN completed_at IS NULL OR excluded.correct * MAX(total, 1) >= correct * MAX(excluded.total, 1)
                              THEN excluded.correct ELSE correct END,
               total = CASE WHEN completed_at IS NULL OR excluded.correct * MAX(total, 1) >= correct * MAX(excluded.total, 1)
                            THEN excluded.total ELSE total END,
               quiz_started_at = NULL""",
        (learner_id, lesson_id, stamp, stamp, local_date, correct, total, int(passed), _ids(missed)),
    )


def _ids(ids: tuple[int, ...]) -> str:
    """Question ids as the progress.missed column keeps them: '12,14' (empty: none missed)."""
    return ",".join(str(i) for i in ids)


def missed_ids(text: str | None) -> tuple[int, ...]:
    """progress.missed back into question ids (NULL, from before 0016: none known)."""
    return tuple(int(i) for i in text.split(",") if i.strip().isdigit()) if text else ()


def complete_course(conn: sqlite3.Connection, learner_id: int, course_id: int, score: int, now: datetime) -> None:
    conn.execute(
        """UPDATE enrollments SET status = 'completed', completed_at = COALESCE(completed_at, ?), score = ?
           WHERE learner_id = ? AND course_id = ?""",
        (now.isoformat(), score, learner_id, course_id),
    )


def award_badge(conn: sqlite3.Connection, learner_id: int, code: str, course_id: int | None, now: datetime) -> None:
    conn.execute(
        """INSERT INTO learner_badges (learner_id, code, course_id, awarded_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (learner_id, code) DO NOTHING""",
        (learner_id, code, course_id, now.isoformat()),
    )


def request(conn: sqlite3.Connection, learner_id: int, *, kind: str, key: str, now: datetime) -> None:
    """A pending request for another feature (certificate to issue…), picked up by its worker task."""
    stamp = now.isoformat()
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, due_at, status, created_at)
           VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        (learner_id, kind, key, stamp, stamp),
    )


HELD = "held_lesson"  # deliveries kind: a daily lesson held for the learner's reply (outside the 24-hour window)


NUDGE = "nudge"  # deliveries kind: the lesson_nudge written on that local date (a prompt for the back-off)


def hold_lesson(
    conn: sqlite3.Connection, learner_id: int, *, key: str, lesson_id: int, now: datetime, nudge: bool = True
) -> None:
    """The daily lesson of local date `key` waits for the learner's reply (conversation.lessons.hold); nudge: a
    lesson_nudge went with it that day (recorded for the back-off: schedule.reminders counts it too)."""
    stamp = now.isoformat()
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        (learner_id, HELD, key, lesson_id, stamp, stamp),
    )
    if nudge:
        conn.execute(
            """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
               VALUES (?, ?, ?, ?, ?, 'done', ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
            (learner_id, NUDGE, key, lesson_id, stamp, stamp),
        )


def prompts(conn: sqlite3.Connection, learners: dict[int, tuple[str, str | None]]) -> dict[int, Prompts]:
    """Learner → their Prompts: local days with a lesson nudge or a reminder after the local date of their last
    message. learners: {id: (time zone, last_inbound_at or None)}; those with none are left out (Prompts())."""
    since = {str(i): local_date(datetime.fromisoformat(last), tz) if last else "" for i, (tz, last) in learners.items()}
    return {
        r[0]: Prompts(r[1], r[2])
        for r in conn.execute(
            """SELECT d.learner_id, COUNT(DISTINCT d.key), MAX(d.key) FROM json_each(?) j
            JOIN deliveries d ON d.learner_id = CAST(j.key AS INTEGER) AND d.kind IN ('nudge', 'reminder') AND d.key > j.value
            GROUP BY d.learner_id""",
            (json.dumps(since),),
        )
    }


def settle_held_lesson(conn: sqlite3.Connection, learner_id: int, *, key: str, status: str, now: datetime) -> None:
    """done | skipped_unanswered | cancelled. A nudge still unsent (queued behind a fan-out, or waiting for want of
    a template) is cancelled with it: it would only ask for a lesson that was sent, replaced or called off."""
    conn.execute(
        "UPDATE deliveries SET status = ? WHERE learner_id = ? AND kind = ? AND key = ? AND status = 'pending'",
        (status, learner_id, HELD, key),
    )
    conn.execute(
        """UPDATE messages SET status = 'cancelled', error_message = ?, updated_at = ?
           WHERE learner_id = ? AND direction = 'out' AND kind = 'nudge' AND status IN ('queued', 'retry', 'waiting')""",
        (f"not needed any more: the held lesson was {status.replace('_', ' ')}", now.isoformat(), learner_id),
    )


def held_lessons(conn: sqlite3.Connection, ids: list[int]) -> dict[int, str]:
    """Learner → local date of their held lesson (the newest, should there ever be two), for those with one."""
    if len(ids) == 1:  # every conversation turn asks for its one learner (twice): no JSON list to build and scan
        held = conn.execute(
            "SELECT MAX(key) FROM deliveries WHERE learner_id = ? AND kind = ? AND status = 'pending'", (ids[0], HELD)
        ).fetchone()[0]
        return {} if held is None else {ids[0]: held}
    return {
        r[0]: r[1]
        for r in conn.execute(
            """SELECT learner_id, MAX(key) FROM deliveries WHERE learner_id IN (SELECT value FROM json_each(?))
           AND kind = ? AND status = 'pending' GROUP BY learner_id""",
            (json.dumps(ids), HELD),
        )
    }
