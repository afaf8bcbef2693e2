"""Conversation state: where a learner is in a flow, as frozen JSON-serialisable data, and how to rebuild it."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from coachbox.learning.course import Catalogue
from coachbox.learning.evolve import evolve
from coachbox.learning.learner import Learner
from coachbox.learning.progress import retry_questions

FLOWS = (
    "new",  # never spoken to us
    "onboarding_name",  # confirm the WhatsApp name or type another
    "onboarding_language",
    "onboarding_course",
    "onboarding_time",
    "idle",  # nothing pending
    "lesson",  # a lesson was delivered; its quiz is on offer (QUIZ, or it comes by itself)
    "quiz",  # answering question `question` of lesson `lesson_id`
    "review",  # answering the first of learner.review.due (spaced repetition, before the day's lesson)
    "checkin_before",  # the course check-in before lesson 1: question `question` of course options[0]
    "checkin_after",  # the same questions after the last lesson (coachbox.conversation.checkin)
    "choose_course",  # COURSES: a numbered list is on screen
    "choose_language",  # LANGUAGE
    "set_time",  # TIME
    "confirm_delete",  # DELETE: waiting for YES
    "pay_plan",  # PAY: a numbered list of plans is on screen (coachbox.conversation.premium)
    "pay_method",  # PAY: M-PESA or card?
)
ONBOARDING = frozenset(f for f in FLOWS if f.startswith("onboarding_"))
SCHEMA = 1
# The key of a review asked inside the lesson's quiz message (conversation.quiz, one_message): "<local date>/quiz".
# A lost session is rebuilt from it as that quiz, not as a review holding a lesson (which was sent already).
QUIZ_REVIEW = "/quiz"


@dataclass(frozen=True)
class State:
    flow: str = "new"
    lesson_id: int | None = None
    question: int = 0  # index of the question being asked (quiz)
    answers: tuple[bool, ...] = ()  # correctness of this quiz attempt so far
    unclear: int = 0  # unclear answers in a row at this step
    confused: int = 0  # free-text messages in a row we could not act on
    options: tuple[int, ...] = ()  # course ids offered in the numbered list on screen
    return_flow: str = "idle"  # where a side flow (TIME, LANGUAGE…) goes back to
    retry: tuple[int, ...] = ()  # quiz: the question ids this attempt asks (a retry of those missed); () = all
    # The quiz in one message (conversation.quizmessage): the review question ids numbered first on screen, and
    # the numbers answered so far in the order they were answered (`answers` holds the quiz ones' marks, in order).
    reviews: tuple[int, ...] = ()
    given: tuple[int, ...] = ()
    version: int = 0  # the learner's turn counter when this state was saved

    def to_json(self) -> str:
        # By hand instead of dataclasses.asdict (a deep copy, ~40 µs a turn): the same JSON, key for key.
        data = {name: getattr(self, name) for name in _NAMES}
        data["schema"] = SCHEMA
        return _ENCODER.encode(data)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> State | None:
        """The state, or None when the text is missing, from another schema, or damaged (then rebuild)."""
        if not text:
            return None
        try:
            data: dict[str, Any] = json.loads(text)
            if data.pop("schema", None) != SCHEMA:
                return None
            state = cls(
                flow=str(data["flow"]),
                lesson_id=data["lesson_id"],
                question=int(data["question"]),
                answers=tuple(bool(a) for a in data["answers"]),
                unclear=int(data["unclear"]),
                confused=int(data["confused"]),
                options=tuple(int(o) for o in data["options"]),
                return_flow=str(data["return_flow"]),
                retry=tuple(int(i) for i in data.get("retry", ())),  # absent in states saved before retries
                reviews=tuple(int(i) for i in data.get("reviews", ())),  # absent before the one-message quiz
                given=tuple(int(i) for i in data.get("given", ())),
                version=int(data["version"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return state if is_valid(state) else None

    def evolve(self, **changes: Any) -> State:
        """dataclasses.replace(self, **changes), cheaper (conversation.evolve)."""
        return evolve(self, _FIELDS, changes)


_NAMES = tuple(f.name for f in fields(State))
_FIELDS = frozenset(_NAMES)
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(…, separators=…) builds on every call


def is_valid(state: State) -> bool:
    """The invariants every saved state keeps (checked by the property tests too)."""
    if state.flow not in FLOWS or state.return_flow not in FLOWS:
        return False
    if state.flow in ("lesson", "quiz") and state.lesson_id is None:
        return False
    if state.flow in ("quiz", "checkin_before", "checkin_after") and (
        state.question < 0 or len(state.answers) != state.question
    ):
        return False
    if (state.retry or state.reviews or state.given) and state.flow != "quiz":
        return False
    if len(state.given) < len(state.answers) and state.given:
        return False
    return state.unclear >= 0 and state.confused >= 0


def rebuild(learner: Learner, catalogue: Catalogue, version: int = 0) -> State:
    """A sensible state from the database alone (cache lost, expired, or stale after a crash)."""
    if learner.status == "onboarding":
        if learner.name is None:
            # Only the message being handled is stored: this is the learner's first contact.
            flow = "new" if learner.message_count <= 1 else "onboarding_name"
        elif learner.current_course_id is None:
            flow = "onboarding_language"
        else:
            flow = "onboarding_time"
        return State(flow=flow, version=version)
    opened = learner.open_lesson
    if learner.review.open_since is not None and learner.review.due:
        if not learner.review.open_since.endswith(QUIZ_REVIEW):
            return State(flow="review", lesson_id=learner.last_lesson_id, version=version)
        if opened is not None and opened.quiz_started and _lesson_exists(catalogue, opened.lesson_id):
            # The quiz in one message, with the day's review questions still open: numbered first, as on screen.
            retry = retry_questions(learner.result(opened.lesson_id), _question_ids(catalogue, opened.lesson_id))
            return State(
                flow="quiz",
                lesson_id=opened.lesson_id,
                question=len(opened.answers),
                answers=opened.answers,
                retry=retry,
                reviews=learner.review.due,
                version=version,
            )
    if opened is not None and _lesson_exists(catalogue, opened.lesson_id):
        question_ids = _question_ids(catalogue, opened.lesson_id)
        # A quiz started after a failed one is its retry: only the questions missed (quiz.start decides the same).
        retry = retry_questions(learner.result(opened.lesson_id), question_ids)
        if opened.quiz_started and len(opened.answers) < len(retry or question_ids):
            return State(
                flow="quiz",
                lesson_id=opened.lesson_id,
                question=len(opened.answers),
                answers=opened.answers,
                retry=retry,
                version=version,
            )
        if not opened.quiz_started:
            return State(flow="lesson", lesson_id=opened.lesson_id, version=version)
    return State(flow="idle", lesson_id=learner.last_lesson_id, version=version)


def _lesson_exists(catalogue: Catalogue, lesson_id: int) -> bool:
    return any(lesson.id == lesson_id for course in catalogue.courses for lesson in course.lessons)


def _question_ids(catalogue: Catalogue, lesson_id: int) -> tuple[int | None, ...]:
    for course in catalogue.courses:
        for lesson in course.lessons:
            if lesson.id == lesson_id:
                return tuple(q.id for q in lesson.questions)
    return ()


def with_flow(state: State, flow: str, **changes: Any) -> State:
    """Move to a flow, clearing the per-step counters (and a quiz retry's questions, outside a quiz)."""
    cleared: dict[str, Any] = (
        {"unclear": 0} if flow == "quiz" else {"unclear": 0, "retry": (), "reviews": (), "given": ()}
    )
    # evolve() itself, not State.evolve(**…): the changes are not unpacked and packed again (a daily lesson moves
    # the flow twice, and the fan-out makes 100,000 of them).
    return evolve(state, _FIELDS, {"flow": flow, **cleared, **changes})
