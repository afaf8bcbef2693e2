"""The simulator's time travel for one test learner: their whole history moved into the past, and their course skipped
to its last lesson; plus what the box has scheduled for them next."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DATE_INSIDE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")
# Keys that name a local date inside them: a delivery's ("2026-03-02", "2026-03-02:1") and an outbound message's
# idempotency key ("daily_lesson:12:2026-03-02:out:0"). Left behind, today's key would still be taken after the
# move, and today's real lesson would be dropped as a duplicate of the moved one.
_KEYS = {"deliveries": ("key",), "messages": ("idempotency_key",)}
# A sender's lease on an outbound row is the sender's, not the learner's history: moving it would make the sender
# think its claim was taken (outbox.confirm_claim compares it).
_NOT_HISTORY = {"claimed_at"}


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


@dataclass(frozen=True)
class _Table:
    name: str
    learner: str  # the column naming the learner
    instants: tuple[str, ...]  # ISO-8601 instants (*_at)
    dates: tuple[str, ...]  # local dates (*_date, *_on)
    keys: tuple[str, ...]  # keys with local dates inside


def _learner_tables(conn: sqlite3.Connection) -> list[_Table]:
    """Every table about learners and its time columns, read from the schema itself, so a table a later migration
    adds moves with the rest."""
    found = []
    for table, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if "WITHOUT ROWID" in (sql or "").upper():
            continue  # memberships (learner_classes): when someone joined a class is no part of their learning
        columns = _columns(conn, table)
        learner = "id" if table == "learners" else "learner_id" if "learner_id" in columns else None
        if learner is None:
            continue
        instants = tuple(c for c in columns if c.endswith("_at") and c not in _NOT_HISTORY)
        dates = tuple(c for c in columns if c.endswith(("_date", "_on")))
        keys = tuple(c for c in _KEYS.get(table, ()) if c in columns)
        if instants or dates or keys:
            found.append(_Table(table, learner, instants, dates, keys))
    return found


def shift_learner(conn: sqlite3.Connection, learner_id: int, by: timedelta, days: int, now: datetime) -> int:
    """Move everything about this learner `by` into the past: every instant (ISO-8601 text in a *_at column) earlier
    by `by`, every local date (in *_date and *_on columns, and inside delivery and message keys) earlier by `days`
    (the local dates `by` crosses). Afterwards, at the real now, they are exactly a learner for whom that much time
    has gone by. Only time columns are written (no trigger fires). Call inside a transaction; returns the number of
    rows changed.

    The next lesson instant is a schedule made from the lesson time, not history: it moves with the rest when that
    makes it due by `now` (the step to the next lesson time), and is otherwise cleared, for the scheduler to work
    out again from the lesson time (moved an hour, a 07:00 lesson would come at 06:00)."""
    changed = 0

    def earlier_date(value: str) -> str:
        return (date.fromisoformat(value) - timedelta(days=days)).isoformat()

    for table in _learner_tables(conn):
        columns = table.keys + table.dates + table.instants
        # Oldest first: moving dates back, an older row makes room before a newer one takes its key (UNIQUE).
        quoted = ", ".join(f'"{c}"' for c in columns)
        rows = conn.execute(
            f'SELECT rowid AS moved_row, {quoted} FROM "{table.name}" WHERE "{table.learner}" = ? ORDER BY {quoted}',
            (learner_id,),
        ).fetchall()
        for row in rows:
            values: dict[str, str] = {}
            for column in table.instants:
                moved = _earlier_instant(row[column], by)
                if moved is not None:
                    values[column] = moved
            for column in table.dates:
                value = row[column]
                if days and isinstance(value, str) and _ISO_DATE.match(value):
                    values[column] = earlier_date(value)
            for column in table.keys:
                value = row[column]
                if days and isinstance(value, str) and _DATE_INSIDE.search(value):
                    values[column] = _DATE_INSIDE.sub(lambda m: _valid_or_same(m.group(1), earlier_date), value)
            if values:
                assignments = ", ".join(f'"{c}" = ?' for c in values)
                conn.execute(
                    f'UPDATE "{table.name}" SET {assignments} WHERE rowid = ?', (*values.values(), row["moved_row"])
                )
                changed += 1
    conn.execute(
        "UPDATE learners SET next_lesson_at = NULL WHERE id = ? AND next_lesson_at > ?", (learner_id, now.isoformat())
    )
    return changed


def _valid_or_same(value: str, move) -> str:
    try:
        return move(value)
    except ValueError:  # "2026-99-99" inside a key is no date
        return value


def _earlier_instant(value: object, by: timedelta) -> str | None:
    if not isinstance(value, str) or not _ISO_INSTANT.match(value):
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (instant - by).isoformat()


@dataclass(frozen=True)
class Course:
    """The test learner's current course and where they are in it."""

    course_id: int
    title: str
    status: str  # the enrolment's: active | completed | dropped
    next_position: int
    last_position: int
    lessons: int
    next_title: str | None  # the next lesson to come, None when every lesson has come


def current_course(conn: sqlite3.Connection, learner_id: int) -> Course | None:
    row = conn.execute(
        """SELECT c.id, c.title, e.status, e.next_position,
                  (SELECT MAX(position) FROM lessons WHERE course_id = c.id AND published = 1) AS last_position,
                  (SELECT COUNT(*) FROM lessons WHERE course_id = c.id AND published = 1) AS lessons,
                  (SELECT title FROM lessons WHERE course_id = c.id AND published = 1 AND position >= e.next_position
                   ORDER BY position LIMIT 1) AS next_title
           FROM learners l JOIN courses c ON c.id = l.current_course_id
           JOIN enrollments e ON e.learner_id = l.id AND e.course_id = c.id
           WHERE l.id = ?""",
        (learner_id,),
    ).fetchone()
    if row is None:
        return None
    return Course(
        row["id"],
        row["title"],
        row["status"],
        row["next_position"],
        row["last_position"] or 0,
        row["lessons"],
        row["next_title"],
    )


def skip_to_last_lesson(conn: sqlite3.Connection, learner_id: int, course_id: int, now: datetime, today: str) -> int:
    """Every published lesson of the course before its last one, not finished yet, becomes finished with every quiz
    question right (as a learner who answered all of them would have it), and the last lesson is the next to come.
    Call inside a transaction; returns how many lessons were marked finished."""
    stamp = now.isoformat()
    lessons = conn.execute(
        """SELECT l.id, (SELECT COUNT(*) FROM questions q WHERE q.lesson_id = l.id) AS questions FROM lessons l
           WHERE l.course_id = ? AND l.published = 1
             AND l.position < (SELECT MAX(position) FROM lessons WHERE course_id = ? AND published = 1)
             AND l.id NOT IN (SELECT lesson_id FROM progress WHERE learner_id = ? AND completed_at IS NOT NULL)
           ORDER BY l.position""",
        (course_id, course_id, learner_id),
    ).fetchall()
    for lesson in lessons:
        conn.execute(
            """INSERT INTO progress (learner_id, lesson_id, delivered_at, quiz_started_at, completed_at,
                                     completed_local_date, correct, total, attempts, passed, missed)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1, NULL)
               ON CONFLICT (learner_id, lesson_id) DO UPDATE SET
                   delivered_at = COALESCE(delivered_at, excluded.delivered_at),
                   quiz_started_at = COALESCE(quiz_started_at, excluded.quiz_started_at),
                   completed_at = excluded.completed_at, completed_local_date = excluded.completed_local_date,
                   correct = excluded.correct, total = excluded.total,
                   attempts = MAX(attempts, 1), passed = 1, missed = NULL""",
            (learner_id, lesson["id"], stamp, stamp, stamp, today, lesson["questions"], lesson["questions"]),
        )
    conn.execute(
        """UPDATE enrollments SET next_position =
               MAX(next_position, (SELECT MAX(position) FROM lessons WHERE course_id = ? AND published = 1))
           WHERE learner_id = ? AND course_id = ? AND status = 'active'""",
        (course_id, learner_id, course_id),
    )
    return len(lessons)


def next_lesson_at(conn: sqlite3.Connection, learner_id: int) -> datetime | None:
    row = conn.execute("SELECT next_lesson_at FROM learners WHERE id = ?", (learner_id,)).fetchone()
    return datetime.fromisoformat(row[0]) if row is not None and row[0] else None


def reviews_due(conn: sqlite3.Connection, learner_id: int, before: datetime) -> int:
    """Review questions (spaced repetition) due for this learner by `before`."""
    return conn.execute(
        "SELECT COUNT(*) FROM review_items WHERE learner_id = ? AND due_at <= ?", (learner_id, before.isoformat())
    ).fetchone()[0]
