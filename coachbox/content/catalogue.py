"""Read the course catalogue back out of SQLite (for the engine, the exporter and the admin page)."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

from coachbox.learning.course import (
    BadgeDefinition,
    Catalogue,
    Course,
    Lesson,
    Question,
)


def load_catalogue(conn: sqlite3.Connection) -> Catalogue:
    """Published courses with their published lessons (by position) and questions, and every badge.

    Three queries whatever the size; cache the result under catalogue_version(conn).
    """
    return Catalogue(courses=tuple(read_courses(conn, published_only=True)), badges=tuple(read_badges(conn)))


def catalogue_version(conn: sqlite3.Connection) -> str:
    """Changes whenever a course, lesson, question or badge row changes (triggers in 0002_lessons_fts)."""
    row = conn.execute("SELECT version FROM content_version WHERE id = 1").fetchone()
    return str(row[0]) if row else "0"


def read_courses(conn: sqlite3.Connection, *, published_only: bool = True) -> list[Course]:
    """Courses (only published ones unless told otherwise), each with published lessons and questions."""
    where = "WHERE c.published = 1" if published_only else ""
    courses = conn.execute(
        f"SELECT c.id, c.slug, c.title, c.language, c.description, c.level, c.premium, c.passing_score, c.position, "
        f"c.translation_of, c.published, c.checkin FROM courses c {where} ORDER BY c.position, c.slug"
    ).fetchall()
    lessons: dict[int, list[Lesson]] = defaultdict(list)
    questions = _read_questions(conn, where)
    for row in conn.execute(
        f"SELECT l.id, l.course_id, l.slug, l.position, l.title, l.body, l.minutes, l.media FROM lessons l "
        f"JOIN courses c ON c.id = l.course_id {where} {'AND' if where else 'WHERE'} l.published = 1 "
        f"ORDER BY l.course_id, l.position, l.slug"
    ):
        lessons[row[1]].append(
            Lesson(
                slug=row[2],
                position=row[3],
                title=row[4],
                body=row[5],
                minutes=row[6],
                media=row[7],
                questions=tuple(questions.get(row[0], ())),
                id=row[0],
            )
        )
    return [
        Course(
            id=row[0],
            slug=row[1],
            title=row[2],
            language=row[3],
            description=row[4],
            level=row[5],
            premium=bool(row[6]),
            passing_score=row[7],
            position=row[8],
            translation_of=row[9],
            published=bool(row[10]),
            lessons=tuple(lessons.get(row[0], ())),
            checkin=read_checkin(row[11]),
        )
        for row in courses
    ]


def read_checkin(text: str | None) -> tuple[Question, ...]:
    """courses.checkin (JSON, migration 0017) as questions numbered from 1, without database ids."""
    return tuple(
        Question(
            position=number,
            kind=item["kind"],
            prompt=item["prompt"],
            choices=tuple(item.get("choices") or ()),
            answer=decode_answer(item["kind"], json.dumps(item["answer"])),
            explanation=item.get("explanation", ""),
        )
        for number, item in enumerate(json.loads(text or "[]"), start=1)
    )


def _read_questions(conn: sqlite3.Connection, where: str) -> dict[int, list[Question]]:
    out: dict[int, list[Question]] = defaultdict(list)
    for row in conn.execute(
        f"SELECT q.id, q.lesson_id, q.position, q.kind, q.prompt, q.choices, q.answer, q.explanation FROM questions q "
        f"JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id {where} "
        f"{'AND' if where else 'WHERE'} l.published = 1 AND q.published = 1 ORDER BY q.lesson_id, q.position"
    ):
        out[row[1]].append(
            Question(
                id=row[0],
                position=row[2],
                kind=row[3],
                prompt=row[4],
                choices=tuple(json.loads(row[5])),
                answer=decode_answer(row[3], row[6]),
                explanation=row[7],
            )
        )
    return out


def read_badges(conn: sqlite3.Connection) -> list[BadgeDefinition]:
    return [
        BadgeDefinition(
            code=row[0],
            rule=row[1],
            threshold=row[2],
            emoji=row[3],
            names=json.loads(row[4]),
            descriptions=json.loads(row[5]),
        )
        for row in conn.execute(
            "SELECT code, rule, threshold, emoji, names, descriptions FROM badge_definitions ORDER BY rowid"
        )
    ]


def encode_answer(answer: int | bool | tuple[str, ...]) -> str:
    """questions.answer as stored: JSON 1-based index, true/false, or list of accepted strings."""
    return json.dumps(list(answer) if isinstance(answer, tuple) else answer, ensure_ascii=False)


def decode_answer(kind: str, text: str) -> int | bool | tuple[str, ...]:
    value = json.loads(text)
    if kind == "short":
        return tuple(value)
    if kind == "true_false":
        return bool(value)
    return int(value)
