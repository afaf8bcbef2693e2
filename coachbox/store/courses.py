"""Queries for courses, lessons (order, body, publish) and quiz questions."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime

from coachbox.content.catalogue import decode_answer
from coachbox.store import inserted_id


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "untitled"


def courses(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT c.*, (SELECT COUNT(*) FROM lessons l WHERE l.course_id = c.id) AS lessons,
                  (SELECT COUNT(*) FROM enrollments e WHERE e.course_id = c.id AND e.status = 'active') AS learners
           FROM courses c ORDER BY c.position, c.title"""
    ).fetchall()


def course(conn: sqlite3.Connection, course_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM courses WHERE id = ?", (course_id,)).fetchone()


def current_learners(conn: sqlite3.Connection, course_id: int) -> int:
    """Learners (not erased) whose current course this is."""
    return conn.execute(
        "SELECT COUNT(*) FROM learners WHERE current_course_id = ? AND status != 'deleted'", (course_id,)
    ).fetchone()[0]


def lessons(conn: sqlite3.Connection, course_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT l.id, l.slug, l.position, l.title, l.minutes, l.published, length(l.body) AS chars,
                  (SELECT COUNT(*) FROM questions q WHERE q.lesson_id = l.id AND q.published = 1) AS questions
           FROM lessons l WHERE l.course_id = ? ORDER BY l.position, l.slug""",
        (course_id,),
    ).fetchall()


def lesson(conn: sqlite3.Connection, lesson_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT l.*, c.title AS course_title, c.slug AS course_slug, c.passing_score, "
        "c.translation_of AS course_translation_of FROM lessons l "
        "JOIN courses c ON c.id = l.course_id WHERE l.id = ?",
        (lesson_id,),
    ).fetchone()


def questions(conn: sqlite3.Connection, lesson_id: int) -> list[dict]:
    out = []
    for row in conn.execute(
        "SELECT * FROM questions WHERE lesson_id = ? AND published = 1 ORDER BY position", (lesson_id,)
    ):
        answer = decode_answer(row["kind"], row["answer"])
        out.append(
            {
                **dict(row),
                "choices": json.loads(row["choices"]),
                "answer_text": "\n".join(answer)
                if isinstance(answer, tuple)
                else ("true" if answer is True else "false" if answer is False else str(answer)),
            }
        )
    return out


def create_course(conn: sqlite3.Connection, title: str, language: str, description: str, now: datetime) -> int:
    base = slug = slugify(title)
    n = 1
    while conn.execute("SELECT 1 FROM courses WHERE slug = ?", (slug,)).fetchone():
        n += 1
        slug = f"{base}-{n}"
    position = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM courses").fetchone()[0]
    # New courses start unpublished: learners see a course only once its author says it is ready.
    cursor = conn.execute(
        """INSERT INTO courses (slug, language, title, description, position, published, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 0, ?, ?)""",
        (slug, language, title, description, position, now.isoformat(), now.isoformat()),
    )
    return inserted_id(cursor)


def update_course(conn: sqlite3.Connection, course_id: int, fields: dict, now: datetime) -> None:
    allowed = {"title", "description", "language", "level", "passing_score", "premium"}
    sets = {k: v for k, v in fields.items() if k in allowed}
    conn.execute(
        f"UPDATE courses SET {', '.join(f'{k} = ?' for k in sets)}, updated_at = ? WHERE id = ?",
        (*sets.values(), now.isoformat(), course_id),
    )


def set_published(conn: sqlite3.Connection, table: str, row_id: int, published: bool, now: datetime) -> None:
    assert table in ("courses", "lessons")
    conn.execute(
        f"UPDATE {table} SET published = ?, updated_at = ? WHERE id = ?", (int(published), now.isoformat(), row_id)
    )


def add_lesson(conn: sqlite3.Connection, course_id: int, title: str, now: datetime) -> int:
    position = conn.execute(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM lessons WHERE course_id = ?", (course_id,)
    ).fetchone()[0]
    base = slug = f"{position:02d}-{slugify(title)}"
    n = 1
    while conn.execute("SELECT 1 FROM lessons WHERE course_id = ? AND slug = ?", (course_id, slug)).fetchone():
        n += 1
        slug = f"{base}-{n}"
    cursor = conn.execute(
        """INSERT INTO lessons (course_id, slug, position, title, body, published, created_at, updated_at)
           VALUES (?, ?, ?, ?, '', 0, ?, ?)""",
        (course_id, slug, position, title, now.isoformat(), now.isoformat()),
    )
    return inserted_id(cursor)


def update_lesson(conn: sqlite3.Connection, lesson_id: int, title: str, minutes: int, body: str, now: datetime) -> None:
    conn.execute(
        "UPDATE lessons SET title = ?, minutes = ?, body = ?, updated_at = ? WHERE id = ?",
        (title, minutes, body, now.isoformat(), lesson_id),
    )


def set_lesson_media(conn: sqlite3.Connection, lesson_id: int, media: str | None, now: datetime) -> None:
    conn.execute("UPDATE lessons SET media = ?, updated_at = ? WHERE id = ?", (media, now.isoformat(), lesson_id))


def move_lesson(conn: sqlite3.Connection, lesson_id: int, direction: int) -> bool:
    """Swap a lesson with its neighbour (direction -1 up, +1 down), renumbering the course 1..n first."""
    row = conn.execute("SELECT course_id FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
    ids = [r[0] for r in conn.execute("SELECT id FROM lessons WHERE course_id = ? ORDER BY position, slug", (row[0],))]
    i = ids.index(lesson_id)
    j = i + direction
    if not 0 <= j < len(ids):
        return False
    ids[i], ids[j] = ids[j], ids[i]
    conn.executemany("UPDATE lessons SET position = ? WHERE id = ?", [(n, lid) for n, lid in enumerate(ids, start=1)])
    return True


def add_question(conn: sqlite3.Connection, lesson_id: int, values: dict) -> int:
    position = conn.execute(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM questions WHERE lesson_id = ?", (lesson_id,)
    ).fetchone()[0]
    cursor = conn.execute(
        "INSERT INTO questions (lesson_id, position, kind, prompt, choices, answer, explanation) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            lesson_id,
            position,
            values["kind"],
            values["prompt"],
            values["choices"],
            values["answer"],
            values["explanation"],
        ),
    )
    return inserted_id(cursor)


def update_question(conn: sqlite3.Connection, question_id: int, values: dict) -> None:
    conn.execute(
        "UPDATE questions SET kind = ?, prompt = ?, choices = ?, answer = ?, explanation = ? WHERE id = ?",
        (values["kind"], values["prompt"], values["choices"], values["answer"], values["explanation"], question_id),
    )


def remove_question(conn: sqlite3.Connection, question_id: int) -> None:
    """Retire a question learners have answered (deleting would cascade to their answers); delete it otherwise."""
    answered = conn.execute("SELECT 1 FROM answers WHERE question_id = ? LIMIT 1", (question_id,)).fetchone()
    if answered:
        conn.execute("UPDATE questions SET published = 0 WHERE id = ?", (question_id,))
    else:
        conn.execute("DELETE FROM questions WHERE id = ?", (question_id,))


def question_lesson(conn: sqlite3.Connection, question_id: int) -> int | None:
    """The lesson a question belongs to (None when there is no such question)."""
    row = conn.execute("SELECT lesson_id FROM questions WHERE id = ?", (question_id,)).fetchone()
    return row[0] if row else None


def question_answer_count(conn: sqlite3.Connection, question_id: int, scope: tuple[str, list]) -> int:
    """Answers given to a question by the learners in `scope` (an admin.scope fragment on learners.id)."""
    where, params = scope
    return conn.execute(
        f"SELECT COUNT(*) FROM answers JOIN learners ON learners.id = answers.learner_id "
        f"WHERE answers.question_id = ? AND ({where})",
        (question_id, *params),
    ).fetchone()[0]


def learners_before_lesson(conn: sqlite3.Connection, lesson_id: int, scope: tuple[str, list]) -> int:
    """Learners (in `scope`) actively on the lesson's course who have not been sent it yet: unpublishing it means
    they skip it."""
    where, params = scope
    return conn.execute(
        f"SELECT COUNT(*) FROM lessons l JOIN enrollments e ON e.course_id = l.course_id AND e.status = 'active' "
        f"JOIN learners ON learners.id = e.learner_id AND learners.status != 'deleted' "
        f"WHERE l.id = ? AND e.next_position <= l.position AND ({where})",
        (lesson_id, *params),
    ).fetchone()[0]


def touch_lesson_text(conn: sqlite3.Connection, lesson_id: int, now: datetime) -> None:
    """A lesson's questions changed: its words are newer (lessons.text_changed_at, migration 0024)."""
    conn.execute(
        "UPDATE lessons SET text_changed_at = ?, updated_at = ? WHERE id = ?",
        (now.isoformat(), now.isoformat(), lesson_id),
    )


def original_lessons(conn: sqlite3.Connection, course_id: int) -> dict[int, sqlite3.Row]:
    """For a translated course (courses.translation_of): each of its lessons' original, the lesson with the same slug
    in the original course, by the translated lesson's id, with both lessons' text_changed_at."""
    rows = conn.execute(
        """SELECT t.id AS lesson_id, t.text_changed_at AS own_changed_at, o.id, o.title, o.text_changed_at,
                  oc.language, oc.title AS course_title
           FROM lessons t JOIN courses tc ON tc.id = t.course_id
           JOIN courses oc ON oc.slug = tc.translation_of
           JOIN lessons o ON o.course_id = oc.id AND o.slug = t.slug
           WHERE t.course_id = ?""",
        (course_id,),
    ).fetchall()
    return {row["lesson_id"]: row for row in rows}


def translated_lessons(conn: sqlite3.Connection, lesson_id: int) -> list[sqlite3.Row]:
    """The translations of a lesson: the lessons with its slug in the courses that name its course in
    translation_of, with their language and text_changed_at."""
    return conn.execute(
        """SELECT t.id, t.title, t.text_changed_at, tc.language, tc.title AS course_title
           FROM lessons o JOIN courses oc ON oc.id = o.course_id
           JOIN courses tc ON tc.translation_of = oc.slug
           JOIN lessons t ON t.course_id = tc.id AND t.slug = o.slug
           WHERE o.id = ? ORDER BY tc.language""",
        (lesson_id,),
    ).fetchall()


def question_answered(conn: sqlite3.Connection, question_id: int) -> bool:
    """Has anyone answered it? (Then removing it retires it instead of deleting it: remove_question.)"""
    return conn.execute("SELECT 1 FROM answers WHERE question_id = ? LIMIT 1", (question_id,)).fetchone() is not None


def course_by_slug(conn: sqlite3.Connection, slug: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM courses WHERE slug = ?", (slug,)).fetchone()


def translations_of(conn: sqlite3.Connection, slug: str) -> list[sqlite3.Row]:
    """The courses that are translations of the course `slug` (courses.translation_of), by language."""
    return conn.execute(
        "SELECT id, slug, title, language, published FROM courses WHERE translation_of = ? ORDER BY language", (slug,)
    ).fetchall()
