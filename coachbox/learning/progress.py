"""Progress arithmetic: quiz scores, pass marks, course completion and certificate eligibility."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from coachbox.learning.access import may_access as paid_access
from coachbox.learning.course import Course


@dataclass(frozen=True)
class LessonResult:
    """A learner's best finished attempt at one lesson's quiz."""

    lesson_id: int
    course_id: int
    correct: int
    total: int
    passed: bool
    completed_local_date: str | None = None


def percent(correct: int, total: int) -> int:
    """Whole percent, rounded half up; a lesson without questions counts as 100."""
    return 100 if total <= 0 else (200 * correct + total) // (2 * total)


def passed(correct: int, total: int, passing_score: int) -> bool:
    return percent(correct, total) >= passing_score


@dataclass(frozen=True)
class CourseProgress:
    course_id: int
    done: int
    total: int
    score: int  # percent over every quiz question answered in this course's finished lessons
    passing_score: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total

    @property
    def certificate_eligible(self) -> bool:
        return self.complete and self.score >= self.passing_score


def course_progress(course: Course, results: Iterable[LessonResult]) -> CourseProgress:
    ids = {lesson.id for lesson in course.lessons}
    mine = [r for r in results if r.lesson_id in ids]
    correct = sum(r.correct for r in mine)
    total = sum(r.total for r in mine)
    return CourseProgress(
        course.id or 0, len(mine), len(course.lessons), percent(correct, total) if mine else 0, course.passing_score
    )


def quiz_average(results: Iterable[LessonResult]) -> int | None:
    """Percent over every finished quiz, or None before the first one."""
    rows = [r for r in results if r.total > 0]
    if not rows:
        return None
    return percent(sum(r.correct for r in rows), sum(r.total for r in rows))


def may_access(learner: object, course: Course) -> bool:
    """Whether this learner may receive this course's lessons: the payments feature decides from the learner's
    live subscriptions, handed in as data (Learner.access); the engine routes every delivery through here."""

    return paid_access(learner, course)
