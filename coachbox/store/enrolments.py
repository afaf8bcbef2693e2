"""Queries for bulk enrolment: the look-ups a CSV's rows are checked against, and creating or updating learners."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from coachbox.learning.timeparse import timezone_for_phone
from coachbox.store import inserted_id
from coachbox.store.learners import move_course


class EnrolmentRow(Protocol):
    """One checked row, as apply() reads it (the admin's CSV plan makes them)."""

    @property
    def e164(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def course_id(self) -> int | None: ...
    @property
    def cohort(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def lesson_time(self) -> str: ...


def course_slugs(conn: sqlite3.Connection) -> dict[str, sqlite3.Row]:
    """Every course (id, slug, title) by its lower-cased slug, the name a CSV's course column uses."""
    return {r["slug"].lower(): r for r in conn.execute("SELECT id, slug, title FROM courses")}


def courses_to_enrol(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every course a learner can be enrolled in (id, slug, title, language, published), in the courses page's
    order: the enrol page lists their short names."""
    return conn.execute("SELECT id, slug, title, language, published FROM courses ORDER BY position, id").fetchall()


def learner_brief(conn: sqlite3.Connection, learner_id: int) -> sqlite3.Row | None:
    """A just-enrolled learner's name, number and course title, for the enrol page's "added" line."""
    return conn.execute(
        """SELECT l.id, l.name, l.phone, c.title AS course_title FROM learners l
           LEFT JOIN courses c ON c.id = l.current_course_id WHERE l.id = ? AND l.status != 'deleted'""",
        (learner_id,),
    ).fetchone()


def live_learner(conn: sqlite3.Connection, e164: str) -> sqlite3.Row | None:
    """The learner (id, opted_out) with this WhatsApp number, unless erased."""
    return conn.execute(
        "SELECT id, opted_out FROM learners WHERE channel_key = ? AND status != 'deleted'",
        (f"whatsapp:{e164}",),
    ).fetchone()


def apply(
    conn: sqlite3.Connection,
    rows: Iterable[EnrolmentRow],
    now: datetime,
    *,
    default_language: str,
    default_timezone: str,
    default_lesson_time: str,
) -> dict[str, int]:
    """Create or update a plan's valid rows (call inside one transaction). Blank cells leave a value alone."""
    stamp = now.isoformat()
    counts = {"created": 0, "updated": 0}
    for row in rows:
        key = f"whatsapp:{row.e164}"
        cursor = conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, name, language, timezone, lesson_time, status,
                                     cohort, created_at, updated_at)
               VALUES (?, 'whatsapp', ?, ?, ?, ?, ?, 'active', ?, ?, ?)
               ON CONFLICT (channel_key) DO NOTHING""",
            (
                key,
                row.e164,
                row.name or None,
                row.language or default_language,
                timezone_for_phone(row.e164, default_timezone),
                row.lesson_time or default_lesson_time,
                row.cohort or None,
                stamp,
                stamp,
            ),
        )
        if cursor.rowcount == 1:
            learner_id = inserted_id(cursor)
            counts["created"] += 1
        else:  # an existing learner (or one who wrote in since the preview): fill in only what the row gives
            learner_id = conn.execute("SELECT id FROM learners WHERE channel_key = ?", (key,)).fetchone()[0]
            conn.execute(
                """UPDATE learners SET name = COALESCE(NULLIF(?, ''), name), cohort = COALESCE(NULLIF(?, ''), cohort),
                          language = COALESCE(NULLIF(?, ''), language),
                          lesson_time = COALESCE(NULLIF(?, ''), lesson_time), updated_at = ?
                   WHERE id = ?""",
                (row.name, row.cohort, row.language, row.lesson_time, stamp, learner_id),
            )
            counts["updated"] += 1
        if row.course_id is not None:
            move_course(conn, learner_id, row.course_id, now, set_language=False)
    return counts
