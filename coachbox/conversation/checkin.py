"""The course check-in: the same few questions before lesson 1 and after the last lesson, never marked pass/fail.

A course declares it with [[checkin]] tables in course.toml (docs/content.md). Before lesson 1 (right after
onboarding picks the course and the time) the learner is told honestly what it is for and may SKIP it; each answer
is only acknowledged (no right/wrong: the learner has not had the lesson yet). After the last lesson the same
questions come back, and at the end the learner hears how many they got right, with no pass mark. Every answer
leaves as a RecordCheckin effect; the admin compares the share right before and after (store.checkins).
"""

from __future__ import annotations

from dataclasses import replace

from coachbox.conversation import lessons, quiz
from coachbox.conversation.effects import CompleteCourse, RecordCheckin
from coachbox.conversation.state import with_flow
from coachbox.conversation.turn import Turn
from coachbox.learning.course import Course
from coachbox.learning.grading import grade, normalise
from coachbox.learning.learner import Learner

FLOWS = ("checkin_before", "checkin_after")


def due_before(turn: Turn) -> bool:
    """The current course has a check-in they have not answered, and none of its lessons went out yet."""
    course = turn.course
    return (
        course is not None
        and bool(course.checkin)
        and course.id not in turn.learner.checked_in
        and _fresh(turn, course)
    )


def start_before(turn: Turn) -> bool:
    """Onboarding is done, or COURSES just chose a course new to them: the current course's check-in, when due
    (True); else False."""
    course = turn.course
    if course is None or not due_before(turn):
        return False
    _start(turn, course, "checkin_before", "checkin.intro_before")
    return True


def after_course(turn: Turn) -> None:
    """End of a turn that completed a course with a check-in (a CompleteCourse effect) and left nothing open: the
    same questions again. quiz.py leaves out 'course.what_next' for such a course: the check-in's end says it."""
    if turn.state.flow != "idle":
        return
    for effect in turn.effects:
        if isinstance(effect, CompleteCourse):
            course = turn.catalogue.course(effect.course_id)
            if course is not None and asks_after(turn.learner, course):
                _start(turn, course, "checkin_after", "checkin.intro_after")
                return


def asks_after(learner: Learner, course: Course) -> bool:
    """The check-in comes back after the last lesson only for a learner who answered it before lesson 1 (not one
    who skipped it, nor one who started before the course had a check-in): "the same questions as at the start"."""
    return bool(course.checkin) and course.id in learner.checked_in


def _fresh(turn: Turn, course: Course) -> bool:
    """No lesson of this course delivered yet: the check-in is about what the learner knew before it."""
    enrollment = turn.learner.enrollment(course.id)
    return enrollment is None or enrollment.next_position <= min(
        (lesson.position for lesson in course.lessons), default=1
    )


def _start(turn: Turn, course: Course, flow: str, intro: str) -> None:
    turn.state = with_flow(turn.state, flow, question=0, answers=(), options=(course.db_id,))
    skip_word = turn.words("skip")[0].upper()
    turn.say(intro, count=len(course.checkin), course=course.title, skip=skip_word, kind="quiz")
    _ask(turn, course, 0, append=True)


def _course(turn: Turn) -> Course | None:
    options = turn.state.options
    course = turn.catalogue.course(options[0]) if len(options) == 1 else None
    return course if course is not None and turn.state.question < len(course.checkin) else None


def _ask(turn: Turn, course: Course, index: int, *, append: bool = False) -> None:
    text, options = quiz.question_text(turn, course.checkin[index], index + 1, len(course.checkin))
    if append and turn.replies:
        last = turn.replies[-1]
        turn.replies[-1] = replace(last, text=f"{last.text}\n\n{text}", kind="quiz", options=options)
    else:
        turn.send(text, kind="quiz", options=options)


def answer(turn: Turn, said: str) -> None:
    """A reply during the check-in: recorded, acknowledged without a mark; SKIP ends it (nothing more recorded)."""
    course = _course(turn)
    if course is None:  # the course or its check-in left the catalogue meanwhile
        _finish(turn, None)
        return
    if turn.texts.is_word(turn.lang, "skip", normalise(said)):
        skip(turn)
        return
    question = course.checkin[turn.state.question]
    result = grade(question, said, true_words=turn.texts.all_words("true"), false_words=turn.texts.all_words("false"))
    if result.verdict == "unclear":
        quiz.say_unclear(turn, question, again="checkin.unclear_again")
        return
    right = result.verdict == "correct"
    phase = "before" if turn.state.flow == "checkin_before" else "after"
    turn.do(RecordCheckin(course.db_id, phase, question.position, result.given, right))
    if phase == "before":
        turn.learner = turn.learner.evolve(checked_in=turn.learner.checked_in | {course.db_id})
    answers = turn.state.answers + (right,)
    if len(answers) < len(course.checkin):
        turn.say("checkin.noted", kind="quiz")
        turn.state = with_flow(turn.state, turn.state.flow, question=len(answers), answers=answers)
        _ask(turn, course, len(answers), append=True)
        return
    turn.state = turn.state.evolve(answers=answers)
    _finish(turn, course)


def skip(turn: Turn, *, lesson_now: bool = False) -> None:
    """SKIP during the check-in: the rest is not asked; what was answered stays recorded. NEXT (lesson_now) also
    means "a lesson now": before lesson 1 of a course chosen with COURSES it comes now, as NEXT (with its cap)."""
    if lesson_now and turn.state.flow == "checkin_before" and turn.learner.last_lesson_id is not None:
        turn.state = with_flow(turn.state, "idle", question=0, answers=(), options=())
        turn.say("checkin.skipped")
        lessons.next_now(turn)
        return
    _finish(turn, _course(turn), skipped=True)


def reprompt(turn: Turn) -> None:
    """Show the check-in question again (after HELP or PROGRESS in the middle of it)."""
    course = _course(turn)
    if course is not None:
        turn.append("checkin.still_waiting")
        _ask(turn, course, turn.state.question)


def _finish(turn: Turn, course: Course | None, *, skipped: bool = False) -> None:
    before = turn.state.flow == "checkin_before"
    right, total = sum(turn.state.answers), len(course.checkin) if course else 0
    turn.state = with_flow(turn.state, "idle", question=0, answers=(), options=())
    if before and turn.learner.last_lesson_id is None:  # onboarding: their very first lesson comes now
        turn.say("checkin.skipped_before" if skipped else "checkin.done_before")
        lessons.deliver_next(turn, kind="first_lesson")
        return
    if before:  # a course chosen later with COURSES: its lesson 1 comes at their lesson time, as they were told
        key = "checkin.skipped_before_later" if skipped else "checkin.done_before_later"
        turn.say(key, course=course.title if course else "", time=turn.learner.lesson_time)
        return
    if skipped or course is None:
        turn.say("checkin.skipped")
    else:
        turn.say("checkin.done_after", right=right, total=total)
    turn.say("course.what_next")
