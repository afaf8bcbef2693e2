"""Import a content folder into SQLite: all or nothing, idempotent by source hashes, never losing learner data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from coachbox.content.catalogue import encode_answer
from coachbox.content.parser import ContentError, ContentProblem, parse_folder
from coachbox.core.config import Settings
from coachbox.learning.course import BadgeDefinition, Course, Lesson, Question
from coachbox.store import transaction, utcnow_iso

Progress = Callable[[str, int, int], None]
HASH_VERSION = "1"  # bump when the hashed fields change, so the next import rewrites every row once


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged


@dataclass
class ImportReport:
    courses: Counts = field(default_factory=Counts)
    lessons: Counts = field(default_factory=Counts)
    badges: Counts = field(default_factory=Counts)
    lessons_unpublished: int = 0  # removed from disk but learners have progress on them
    lessons_deleted: int = 0
    questions_retired: int = 0
    questions_deleted: int = 0
    badges_deleted: int = 0
    media_copied: int = 0
    courses_not_on_disk: list[str] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    warnings: list[ContentProblem] = field(default_factory=list)
    rows_changed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        c, les, b = self.courses, self.lessons, self.badges
        line = (
            f"Imported {c.total} courses ({c.new} new, {c.updated} updated, {c.unchanged} unchanged), "
            f"{les.total} lessons ({les.new} new, {les.updated} updated, {les.unchanged} unchanged, "
            f"{self.lessons_unpublished} unpublished, {self.lessons_deleted} deleted), "
            f"{b.total} badges ({b.new} new, {b.updated} updated), {len(self.locales)} locales, "
            f"{self.media_copied} media files copied, {len(self.warnings)} warning{'s' * (len(self.warnings) != 1)}; "
            f"{self.rows_changed} rows changed in {self.seconds:.2f} s"
        )
        notes = [f"warning: {problem}" for problem in self.warnings]
        if self.courses_not_on_disk:
            notes.append(
                f"note: {len(self.courses_not_on_disk)} courses in the database have no folder and were left "
                f"as they are: {', '.join(self.courses_not_on_disk)}"
            )
        return "\n".join([line, *notes])


def import_folder(
    conn: sqlite3.Connection, folder: Path, settings: Settings, progress: Progress | None = None
) -> ImportReport:
    """Parse `folder`; raise ContentError (writing nothing) on any error; else apply it in one transaction."""
    started = time.perf_counter()
    folder = Path(folder)
    result = parse_folder(folder, progress=progress)
    if result.errors:
        raise ContentError(result.errors)
    report = ImportReport(warnings=result.warnings, locales=sorted(result.locales))
    writer = _Writer(conn, folder / "courses", settings.data_dir / "media", report)
    before = conn.total_changes
    with transaction(conn):
        writer.load_existing()
        total = len(result.courses)
        for done, course in enumerate(result.courses, start=1):
            writer.course(course)
            if progress:
                progress("Importing courses", done, total)
        writer.flush_questions()
        if result.badges_file:
            writer.badges(result.badges)
        on_disk = {course.slug for course in result.courses}
        report.courses_not_on_disk = sorted(set(writer.course_rows) - on_disk)
    report.rows_changed = conn.total_changes - before
    report.seconds = time.perf_counter() - started
    return report


def course_hash(course: Course) -> str:
    fields: list[object] = [
        HASH_VERSION,
        course.title,
        course.language,
        course.description,
        course.level,
        course.premium,
        course.passing_score,
        course.position,
        course.translation_of,
    ]
    if course.checkin:  # only then: a course without a check-in keeps the hash it had before check-ins existed
        fields.append([_question_values(q) for q in course.checkin])
    return _digest(fields)


def checkin_json(questions: tuple[Question, ...]) -> str:
    """courses.checkin as stored: a JSON list of {kind, prompt, choices, answer, explanation}, in order."""
    return json.dumps(
        [
            {
                "kind": q.kind,
                "prompt": q.prompt,
                "choices": list(q.choices),
                "answer": json.loads(encode_answer(q.answer)),
                "explanation": q.explanation,
            }
            for q in questions
        ],
        ensure_ascii=False,
    )


def lesson_hash(lesson: Lesson, media_digest: str | None) -> str:
    return _digest(
        [
            HASH_VERSION,
            lesson.position,
            lesson.title,
            lesson.minutes,
            lesson.body,
            lesson.media,
            media_digest,
            [_question_values(q) for q in lesson.questions],
        ]
    )


def _digest(value: object) -> str:
    return hashlib.blake2b(json.dumps(value, ensure_ascii=False).encode(), digest_size=16).hexdigest()


def _question_values(question: Question) -> tuple[str, str, str, str, str]:
    return (
        question.kind,
        question.prompt,
        json.dumps(list(question.choices), ensure_ascii=False),
        encode_answer(question.answer),
        question.explanation,
    )


def _file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class _Writer:
    """The writes of one import, inside the caller's transaction; compares hashes before writing anything."""

    def __init__(self, conn: sqlite3.Connection, courses_dir: Path, media_root: Path, report: ImportReport) -> None:
        self.conn, self.courses_dir, self.media_root, self.report = conn, courses_dir, media_root, report
        self.now = utcnow_iso()
        self.course_rows: dict[str, tuple[int, str | None]] = {}
        self.lesson_rows: dict[int, dict[str, tuple[int, str | None, int]]] = {}
        self.new_questions: list[tuple] = []

    def load_existing(self) -> None:
        for row in self.conn.execute("SELECT id, slug, source_hash FROM courses"):
            self.course_rows[row[1]] = (row[0], row[2])
        for row in self.conn.execute("SELECT id, course_id, slug, source_hash, published FROM lessons"):
            self.lesson_rows.setdefault(row[1], {})[row[2]] = (row[0], row[3], row[4])

    # -- courses and lessons ----------------------------------------------------------------------
    def course(self, course: Course) -> None:
        digest = course_hash(course)
        values = (
            course.title,
            course.language,
            course.description,
            course.level,
            int(course.premium),
            course.passing_score,
            course.position,
            course.translation_of,
            checkin_json(course.checkin),
            digest,
            self.now,
        )
        existing = self.course_rows.get(course.slug)
        if existing is None:
            course_id = self.conn.execute(
                "INSERT INTO courses (title, language, description, level, premium, passing_score, position, "
                "translation_of, checkin, source_hash, updated_at, slug, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*values, course.slug, self.now),
            ).lastrowid
            assert course_id is not None, "an INSERT sets lastrowid"
            self.report.courses.new += 1
        else:
            course_id = existing[0]
            if existing[1] != digest:
                # `published` is the admin's switch: a changed file does not override it.
                self.conn.execute(
                    "UPDATE courses SET title=?, language=?, description=?, level=?, premium=?, passing_score=?, "
                    "position=?, translation_of=?, checkin=?, source_hash=?, updated_at=? WHERE id=?",
                    (*values, course_id),
                )
                self.report.courses.updated += 1
            else:
                self.report.courses.unchanged += 1
        rows = self.lesson_rows.get(course_id, {})
        for lesson in course.lessons:
            self._lesson(course, course_id, lesson, rows.get(lesson.slug))
        on_disk = {lesson.slug for lesson in course.lessons}
        for slug, (lesson_id, _, published) in rows.items():
            if slug not in on_disk:
                self._remove_lesson(lesson_id, published)

    def _lesson(
        self, course: Course, course_id: int, lesson: Lesson, existing: tuple[int, str | None, int] | None
    ) -> None:
        source = self.courses_dir / course.slug / lesson.media if lesson.media else None
        media_digest = _file_digest(source) if source else None
        digest = lesson_hash(lesson, media_digest)
        media = f"courses/{course.slug}/{lesson.media}" if lesson.media else None
        values = (lesson.position, lesson.title, lesson.minutes, lesson.body, media, digest, self.now)
        if existing is None:
            lesson_id = self.conn.execute(
                "INSERT INTO lessons (position, title, minutes, body, media, source_hash, updated_at, course_id, slug, "
                "created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*values, course_id, lesson.slug, self.now),
            ).lastrowid
            self.new_questions += [(lesson_id, q.position, *_question_values(q)) for q in lesson.questions]
            self.report.lessons.new += 1
        elif existing[1] != digest or not existing[2]:
            lesson_id = existing[0]
            self.conn.execute(
                "UPDATE lessons SET position=?, title=?, minutes=?, body=?, media=?, source_hash=?, updated_at=?, "
                "published=1 WHERE id=?",
                (*values, lesson_id),
            )
            self._sync_questions(lesson_id, lesson.questions)
            self.report.lessons.updated += 1
        else:
            self.report.lessons.unchanged += 1
            if media is not None and (self.media_root / media).exists():
                return  # unchanged lesson, media already in place: not even a hash of the copy
        if source is not None and media is not None and media_digest is not None:  # all set when lesson.media is
            self._copy_media(source, self.media_root / media, media_digest)

    def _remove_lesson(self, lesson_id: int, published: int) -> None:
        if self._has_learner_data(lesson_id):
            if published:
                self.conn.execute("UPDATE lessons SET published=0, updated_at=? WHERE id=?", (self.now, lesson_id))
                self.report.lessons_unpublished += 1
        else:
            self.conn.execute("DELETE FROM lessons WHERE id=?", (lesson_id,))
            self.report.lessons_deleted += 1

    def _has_learner_data(self, lesson_id: int) -> bool:
        return self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM progress WHERE lesson_id = ?) OR EXISTS (SELECT 1 FROM answers a "
            "JOIN questions q ON q.id = a.question_id WHERE q.lesson_id = ?)",
            (lesson_id, lesson_id),
        ).fetchone()[0]

    def _sync_questions(self, lesson_id: int, questions: tuple[Question, ...]) -> None:
        """Questions are keyed by (lesson, position): update in place, so answers keep pointing at them."""
        existing = {
            row[0]: (row[1], tuple(row[2:7]), row[7])
            for row in self.conn.execute(
                "SELECT position, id, kind, prompt, choices, answer, explanation, published FROM questions "
                "WHERE lesson_id = ?",
                (lesson_id,),
            )
        }
        for question in questions:
            values = _question_values(question)
            found = existing.pop(question.position, None)
            if found is None:
                self.new_questions.append((lesson_id, question.position, *values))
            elif found[1] != values or not found[2]:
                self.conn.execute(
                    "UPDATE questions SET kind=?, prompt=?, choices=?, answer=?, explanation=?, published=1 WHERE id=?",
                    (*values, found[0]),
                )
        for question_id, _, published in existing.values():
            answered = self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM answers WHERE question_id = ?)", (question_id,)
            ).fetchone()[0]
            if not answered:
                self.conn.execute("DELETE FROM questions WHERE id = ?", (question_id,))
                self.report.questions_deleted += 1
            elif published:
                self.conn.execute("UPDATE questions SET published = 0 WHERE id = ?", (question_id,))
                self.report.questions_retired += 1

    def flush_questions(self) -> None:
        if self.new_questions:
            self.conn.executemany(
                "INSERT INTO questions (lesson_id, position, kind, prompt, choices, answer, explanation) "
                "VALUES (?,?,?,?,?,?,?)",
                self.new_questions,
            )
            self.new_questions = []

    def _copy_media(self, source: Path, dest: Path, digest: str) -> None:
        if dest.exists() and _file_digest(dest) == digest:
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        shutil.copyfile(source, partial)
        os.replace(partial, dest)  # a reader never sees half a file
        self.report.media_copied += 1

    # -- badges -----------------------------------------------------------------------------------
    def badges(self, badges: list[BadgeDefinition]) -> None:
        existing = {
            row[0]: (row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]))
            for row in self.conn.execute(
                "SELECT code, rule, threshold, emoji, names, descriptions FROM badge_definitions"
            )
        }
        for badge in badges:
            values = (badge.rule, badge.threshold, badge.emoji, badge.names, badge.descriptions)
            row = (
                *values[:3],
                json.dumps(badge.names, ensure_ascii=False),
                json.dumps(badge.descriptions, ensure_ascii=False),
            )
            found = existing.pop(badge.code, None)
            if found is None:
                self.conn.execute(
                    "INSERT INTO badge_definitions (rule, threshold, emoji, names, descriptions, code) "
                    "VALUES (?,?,?,?,?,?)",
                    (*row, badge.code),
                )
                self.report.badges.new += 1
            elif found != values:
                self.conn.execute(
                    "UPDATE badge_definitions SET rule=?, threshold=?, emoji=?, names=?, descriptions=? WHERE code=?",
                    (*row, badge.code),
                )
                self.report.badges.updated += 1
            else:
                self.report.badges.unchanged += 1
        for code in existing:
            # A badge learners already hold keeps its definition, so its name still shows on their profile.
            held = self.conn.execute("SELECT EXISTS (SELECT 1 FROM learner_badges WHERE code = ?)", (code,)).fetchone()[
                0
            ]
            if not held:
                self.conn.execute("DELETE FROM badge_definitions WHERE code = ?", (code,))
                self.report.badges_deleted += 1
