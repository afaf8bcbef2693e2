"""Write the database's courses back to files in the on-disk format, so `coachbox import` reads them again."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from coachbox.content.catalogue import read_badges, read_courses
from coachbox.content.parser import FRONT_MATTER_FENCE
from coachbox.core.config import Settings
from coachbox.learning.course import BadgeDefinition, Course, Lesson, Question

Progress = Callable[[str, int, int], None]


def export_folder(conn: sqlite3.Connection, dest: Path, settings: Settings, progress: Progress | None = None) -> int:
    """Write courses/<slug>/…, badges.toml and the locale files into `dest`; returns the number of files written.

    Every course is written (published or not); only published lessons and questions, as the learners see them.
    Files already in `dest` that the database no longer has are left alone.
    """
    dest = Path(dest)
    courses = read_courses(conn, published_only=False)
    written = 0
    for done, course in enumerate(courses, start=1):
        written += _write_course(course, dest / "courses" / course.slug, settings.data_dir / "media")
        if progress:
            progress("Exporting courses", done, len(courses))
    badges = read_badges(conn)
    if badges:
        _write(dest / "badges.toml", badges_toml(badges))
        written += 1
    written += _copy_locales(settings.content_dir / "locales", dest / "locales")
    return written


def _write_course(course: Course, folder: Path, media_root: Path) -> int:
    _write(folder / "course.toml", course_toml(course))
    written = 1
    for lesson in course.lessons:
        media = _media_in_course(course.slug, lesson.media)
        _write(folder / f"{lesson.position:02d}-{lesson.slug}.md", lesson_markdown(lesson, media))
        written += 1
        source = media_root / lesson.media if lesson.media else None
        if source and media is not None and source.is_file():  # media is set when lesson.media is
            target = folder / media
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or not target.samefile(source):
                shutil.copyfile(source, target)
            written += 1
    return written


def _media_in_course(slug: str, stored: str | None) -> str | None:
    """data/media/courses/<slug>/media/x.jpg → media/x.jpg (the path relative to the course folder)."""
    if not stored:
        return None
    path = PurePosixPath(stored)
    prefix = PurePosixPath("courses", slug)
    return str(path.relative_to(prefix)) if path.is_relative_to(prefix) else f"media/{path.name}"


def _copy_locales(source: Path, target: Path) -> int:
    """Locales live only on disk: copy them so the exported folder imports on its own."""
    if not source.is_dir() or (target.exists() and target.resolve() == source.resolve()):
        return 0
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.glob("*.toml")):
        shutil.copyfile(path, target / path.name)
        count += 1
    return count


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# -- the text of each file ---------------------------------------------------------------------------


def course_toml(course: Course) -> str:
    pairs: list[tuple[str, object]] = [
        ("title", course.title),
        ("description", course.description),
        ("language", course.language),
        ("level", course.level),
        ("premium", course.premium),
        ("passing_score", course.passing_score),
        ("position", course.position),
    ]
    if course.translation_of:
        pairs.append(("translation_of", course.translation_of))
    return "\n".join([_table(pairs), *("[[checkin]]\n" + _table(_question_pairs(q)) for q in course.checkin)])


def lesson_markdown(lesson: Lesson, media: str | None) -> str:
    pairs: list[tuple[str, object]] = [("title", lesson.title), ("minutes", lesson.minutes)]
    if media:
        pairs.append(("media", media))
    parts = [_table(pairs)]
    for question in lesson.questions:
        parts.append("[[quiz]]\n" + _table(_question_pairs(question)))
    return f"{FRONT_MATTER_FENCE}\n" + "\n".join(parts) + f"{FRONT_MATTER_FENCE}\n{lesson.body}\n"


def _question_pairs(question: Question) -> list[tuple[str, object]]:
    """A [[quiz]] or [[checkin]] table's keys, in the order the docs show them."""
    pairs: list[tuple[str, object]] = [("kind", question.kind), ("question", question.prompt)]
    if question.kind == "choice":
        pairs += [("choices", list(question.choices)), ("answer", question.answer)]
    elif question.kind == "true_false":
        pairs.append(("answer", question.answer))
    else:
        assert isinstance(question.answer, tuple), "a short question's answer is its accepted answers"
        pairs.append(("accept", list(question.answer)))
    pairs.append(("explanation", question.explanation))
    return pairs


def badges_toml(badges: list[BadgeDefinition]) -> str:
    parts = []
    for badge in badges:
        pairs: list[tuple[str, object]] = [("code", badge.code), ("name", badge.names.get("en", badge.code))]
        pairs += [(f"name_{lang}", name) for lang, name in sorted(badge.names.items()) if lang != "en"]
        pairs += [("emoji", badge.emoji), ("description", badge.descriptions.get("en", ""))]
        pairs += [(f"description_{lang}", text) for lang, text in sorted(badge.descriptions.items()) if lang != "en"]
        pairs += [("rule", badge.rule), ("threshold", badge.threshold)]
        parts.append("[[badge]]\n" + _table(pairs))
    return "\n".join(parts)


def _table(pairs: list[tuple[str, object]]) -> str:
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in pairs)


def toml_value(value: object) -> str:
    """A TOML literal for text, whole numbers, true/false and lists of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON string escapes (\n, \", \\, \uXXXX) are all valid TOML basic-string escapes; DEL is not allowed raw.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
