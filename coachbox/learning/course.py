"""The course catalogue as plain frozen data: what the parser produces and the engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

QuestionKind = Literal["choice", "true_false", "short"]
BadgeRule = Literal["lessons_completed", "streak", "perfect_quiz", "course_complete", "early_bird"]


@dataclass(frozen=True)
class Question:
    position: int
    kind: QuestionKind
    prompt: str
    explanation: str
    choices: tuple[str, ...] = ()
    # choice: 1-based index of the right choice; true_false: bool; short: accepted answers
    answer: int | bool | tuple[str, ...] = ()
    id: int | None = None  # database id once imported

    @property
    def db_id(self) -> int:
        """The database id, for a question read from the database (every question in a Catalogue)."""
        return _stored(self)


@dataclass(frozen=True)
class Lesson:
    slug: str
    position: int
    title: str
    body: str
    minutes: int = 5
    media: str | None = None  # path relative to data/media once imported (course folder while parsing)
    questions: tuple[Question, ...] = ()
    id: int | None = None

    @property
    def db_id(self) -> int:
        """The database id, for a lesson read from the database (every lesson in a Catalogue)."""
        return _stored(self)


@dataclass(frozen=True)
class Course:
    slug: str
    title: str
    language: str
    description: str = ""
    level: str = "beginner"
    premium: bool = False
    passing_score: int = 70
    position: int = 0
    translation_of: str | None = None
    published: bool = True
    lessons: tuple[Lesson, ...] = ()
    id: int | None = None
    # The optional check-in ([[checkin]] in course.toml): asked before lesson 1 and again after the last lesson,
    # never graded; positions 1…n, no database ids (stored as JSON on the course row).
    checkin: tuple[Question, ...] = ()

    @property
    def db_id(self) -> int:
        """The database id, for a course read from the database (every course in a Catalogue)."""
        return _stored(self)

    @property
    def family(self) -> str:
        """The slug shared by a course and its translations."""
        return self.translation_of or self.slug


@dataclass(frozen=True)
class BadgeDefinition:
    code: str
    rule: BadgeRule
    threshold: int = 1
    emoji: str = ""
    names: dict[str, str] = field(default_factory=dict)  # language → name
    descriptions: dict[str, str] = field(default_factory=dict)

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or self.code


@dataclass(frozen=True)
class Catalogue:
    """Everything the engine may offer: published courses (with lessons and questions) and badges."""

    courses: tuple[Course, ...] = ()
    badges: tuple[BadgeDefinition, ...] = ()

    def course(self, course_id: int | None) -> Course | None:
        return self._by_id.get(course_id) if course_id is not None else None

    @cached_property
    def _by_id(self) -> dict[int, Course]:
        # A turn looks its course up several times, and the daily fan-out runs 100,000 turns on one catalogue.
        return {c.id: c for c in self.courses if c.id is not None}

    def lesson(self, lesson_id: int | None) -> tuple[Course, Lesson] | None:
        """The lesson with this id and its course (the first, in catalogue order)."""
        return self._lessons.get(lesson_id) if lesson_id is not None else None

    @cached_property
    def _lessons(self) -> dict[int, tuple[Course, Lesson]]:
        # A quiz finds its lesson by id: the daily fan-out starts one per learner (the scan was per turn).
        found: dict[int, tuple[Course, Lesson]] = {}
        for course in self.courses:
            for lesson in course.lessons:
                if lesson.id is not None:
                    found.setdefault(lesson.id, (course, lesson))
        return found

    def for_language(self, language: str) -> tuple[Course, ...]:
        """Courses in this language, plus originals whose family has no translation in it."""
        own = [c for c in self.courses if c.language == language]
        families = {c.family for c in own}
        rest = [
            c for c in self.courses if c.language != language and c.translation_of is None and c.family not in families
        ]
        return tuple(sorted(own + rest, key=lambda c: (c.position, c.title)))


def _stored(item: Question | Lesson | Course) -> int:
    """item.id, which every object in a Catalogue has (read from the database); parsed content has none yet."""
    if item.id is None:
        raise ValueError(f"this {type(item).__name__.lower()} has no database id: it was never imported")
    return item.id
