"""The lesson editor's preview: the lesson day a learner gets, made by the conversation engine itself."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from coachbox.conversation.engine import Reply, Rules, handle
from coachbox.conversation.events import DeliverDailyLesson, Event, Message
from coachbox.conversation.quiz import LETTERS, asked
from coachbox.conversation.state import State
from coachbox.conversation.texts import Texts
from coachbox.learning.course import BadgeDefinition, Catalogue, Course, Lesson, Question
from coachbox.learning.learner import Enrollment, Learner

SAMPLE_NAME = "Amina"  # the sample learner the preview speaks to (the bot says their first name)
WRONG_SHORT = "not sure"  # a wrong answer to a short-answer question (close to none of the accepted answers)


@dataclass(frozen=True)
class Step:
    """One message on the learner's phone: `box` for what the box sends, else what the learner types."""

    text: str
    box: bool = True
    media: str | None = None
    options: tuple[str, ...] = ()
    note: str = ""  # what is happening, in words, shown above the message
    wrong: tuple[Step, ...] = ()  # what the box says instead to a wrong answer (a question's other branch)
    wrong_answer: str = ""


def lesson_day(
    course: Course,
    lesson: Lesson,
    texts: Texts,
    rules: Rules,
    now: datetime,
    badges: tuple[BadgeDefinition, ...] = (),
) -> list[Step]:
    """The messages of this lesson's day, in order, as conversation.handle() sends them to a new active learner
    whose next lesson it is: the daily lesson (its header, text and the quiz invitation, or on lean days the first
    question), then each question answered right, its feedback, and the score. Each question also carries what a
    wrong answer gets. Nothing is stored: the engine is pure, and its effects are thrown away."""
    others = tuple(item for item in course.lessons if item.id != lesson.id)
    lessons = tuple(sorted((*others, lesson), key=lambda item: (item.position, item.slug)))
    course = replace(course, lessons=lessons, published=True, premium=False)  # the preview shows the lesson itself
    catalogue = Catalogue(courses=(course,), badges=badges)
    learner = Learner(
        id=0,
        name=SAMPLE_NAME,
        language=course.language,
        timezone=rules.default_timezone,
        lesson_time=rules.default_lesson_time,
        status="active",
        current_course_id=course.id,
        enrollments=(Enrollment(course.db_id, next_position=lesson.position),),
        last_inbound_at=now.isoformat(),  # inside WhatsApp's 24-hour window: the lesson goes, not a nudge
        created_at=now.isoformat(),
    )

    def turn(event: Event, state: State, at: datetime):
        decision = handle(event, state, learner, catalogue, texts, at, rules)
        return decision.state, [_step(reply) for reply in decision.replies]

    state, steps = turn(DeliverDailyLesson(), State(flow="idle"), now)
    if steps:
        steps[0] = replace(steps[0], note=f"At {SAMPLE_NAME}'s lesson time ({rules.default_lesson_time})")
    learner = replace(
        learner,
        enrollments=(Enrollment(course.db_id, next_position=lesson.position + 1),),
        last_lesson_id=lesson.id,
    )
    at = now
    if state.flow == "lesson" and lesson.questions:  # the quiz waits for the learner (or the follow-up)
        word = texts.words(_lang(texts, course.language), "quiz")[0].upper()
        at = now + timedelta(minutes=2)
        steps.append(Step(word, box=False, note=f"{SAMPLE_NAME} replies {word} (or the quiz comes by itself later)"))
        state, more = turn(Message(word), state, at)
        steps += more
    for _ in range(len(lesson.questions) + 2):
        if state.flow != "quiz" or state.lesson_id != lesson.id:
            break
        questions = asked(state, lesson)
        if state.question >= len(questions):
            break
        question = questions[state.question]
        right, wrong = _answers(texts, course.language, question)
        at += timedelta(minutes=1)
        _, wrong_steps = turn(Message(wrong), state, at) if wrong else (state, [])
        steps.append(
            Step(right, box=False, note=f"{SAMPLE_NAME} answers right", wrong=tuple(wrong_steps), wrong_answer=wrong)
        )
        state, more = turn(Message(right), state, at)
        steps += more
    return steps


def _lang(texts: Texts, language: str) -> str:
    return language if texts.has(language) else "en"


def _step(reply: Reply) -> Step:
    return Step(reply.text, media=reply.media, options=reply.options)


def _answers(texts: Texts, language: str, question: Question) -> tuple[str, str]:
    """What a learner types for the right answer, and for a wrong one ("" when there is none to show)."""
    lang = _lang(texts, language)
    if question.kind == "choice" and isinstance(question.answer, int):
        right = LETTERS[question.answer - 1]
        wrong = next((letter for letter in LETTERS[: len(question.choices)] if letter != right), "")
        return right, wrong
    if question.kind == "true_false":
        yes, no = texts.t(lang, "quiz.true_word"), texts.t(lang, "quiz.false_word")
        return (yes, no) if question.answer else (no, yes)
    accepted = question.answer if isinstance(question.answer, tuple) else (str(question.answer),)
    return (accepted[0] if accepted else ""), WRONG_SHORT
