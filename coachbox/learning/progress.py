"""Progress arithmetic: quiz scores, pass marks, course completion and certificate eligibility."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    missed: tuple[int, ...] = ()  # question ids still wrong after the latest finished attempt (retry_questions)


def percent(correct: int, total: int) -> int:
    """Whole percent, rounded half up; a lesson without questions counts as 100."""
    return 100 if total <= 0 else (200 * correct + total) // (2 * total)


def needed_to_pass(total: int, passing_score: int) -> int:
    """Right answers a quiz of `total` questions needs to pass at `passing_score` percent: the mark times the length,
    rounded to the nearest whole question with a half going to the learner, and never fewer than one (none for a
    0 % mark or a quiz without questions). That is the smallest k with k/total >= mark - half a question: 2 of 3 at
    70 %, 7 of 10 at 70 %, every question at 100 %. The table for 1-10 questions is in docs/content.md."""
    if total <= 0 or passing_score <= 0:
        return 0
    # ceil((mark * total - 50) / 100) in whole numbers: mark * total / 100 less half a question, rounded up.
    return min(total, max(1, -((50 - passing_score * total) // 100)))


def passed(correct: int, total: int, passing_score: int) -> bool:
    """The one pass rule of every quiz (lessons and retries): at least needed_to_pass(total, mark) right."""
    return correct >= needed_to_pass(total, passing_score)


def course_passed(every_lesson_passed: bool, correct: int, total: int, passing_score: int) -> bool:
    """The certificate's rule for a finished course: every lesson's quiz passed (each by the rule above), or the
    whole course's answers passing that same rule. Without the first half, a learner who passed every lesson at
    2 of 3 would sit at 67 % and be refused a 70 % certificate."""
    return every_lesson_passed or (total > 0 and passed(correct, total, passing_score))


def retry_questions(result: LessonResult | None, question_ids: Sequence[int | None]) -> tuple[int, ...]:
    """The questions QUIZ asks again after a failed quiz: those the learner missed, in lesson order, when the lesson
    was never passed. Empty means the whole quiz: a passed lesson, no attempt yet, an attempt from before missed
    questions were kept, or every question missed (then the retry is the quiz)."""
    if result is None or result.passed or not result.missed:
        return ()
    missed = set(result.missed)
    again = tuple(i for i in question_ids if i is not None and i in missed)
    return again if len(again) < len(question_ids) else ()


def retry_score(total: int, still_missed: int) -> int:
    """Right answers after a retry: every question of the quiz except those still missed (the retry asked only the
    ones missed before, so the others were right already)."""
    return max(0, total - still_missed)


@dataclass(frozen=True)
class CourseProgress:
    course_id: int
    done: int
    total: int
    score: int  # percent over every quiz question answered in this course's finished lessons
    passing_score: int
    every_lesson_passed: bool = False
    correct: int = 0  # right answers over the finished lessons' quizzes
    questions: int = 0  # … of this many questions

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total

    @property
    def certificate_eligible(self) -> bool:
        return self.complete and course_passed(
            self.every_lesson_passed, self.correct, self.questions, self.passing_score
        )


def course_progress(course: Course, results: Iterable[LessonResult]) -> CourseProgress:
    ids = {lesson.id for lesson in course.lessons}
    mine = [r for r in results if r.lesson_id in ids]
    correct = sum(r.correct for r in mine)
    total = sum(r.total for r in mine)
    return CourseProgress(
        course.id or 0,
        len(mine),
        len(course.lessons),
        percent(correct, total) if mine else 0,
        course.passing_score,
        every_lesson_passed=bool(mine) and all(r.passed for r in mine),
        correct=correct,
        questions=total,
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
