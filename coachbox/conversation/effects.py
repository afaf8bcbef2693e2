"""Effects: what a turn asks the service to change, as frozen data (imperative nouns, applied in one transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coachbox.learning.learner import LEARNER_FIELDS


@dataclass(frozen=True)
class UpdateLearner:
    changes: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, **changes: Any) -> UpdateLearner:
        unknown = set(changes) - LEARNER_FIELDS
        if unknown:
            raise ValueError(f"not a learner field: {sorted(unknown)}")
        return cls(tuple(sorted(changes.items())))


@dataclass(frozen=True)
class Enroll:
    course_id: int


@dataclass(frozen=True)
class RecordDelivery:
    """A lesson sent: progress.delivered_at, the enrollment's next position, and a deliveries row (kind, key)."""

    lesson_id: int
    course_id: int
    next_position: int
    kind: str  # daily_lesson | next_lesson | first_lesson
    key: str


@dataclass(frozen=True)
class MoveToTranslation:
    """LANGUAGE with a translated course: the enrollment, progress, answers and review items move to the same
    course in the new language, lesson by lesson and question by question at the same positions."""

    from_course_id: int
    to_course_id: int
    lessons: tuple[tuple[int, int], ...]  # (old lesson id, new lesson id)
    questions: tuple[tuple[int, int], ...]  # (old question id, new question id)


@dataclass(frozen=True)
class StartQuiz:
    lesson_id: int


@dataclass(frozen=True)
class RecordAnswer:
    question_id: int
    given: str
    correct: bool


@dataclass(frozen=True)
class StartReview:
    """A review is asked before the daily lesson, which waits until it is finished (key: that local date)."""

    key: str


@dataclass(frozen=True)
class RecordReview:
    """A review question answered: its FSRS card moves on with this rating (learning.review.rating: 1 Again, 2 Hard,
    3 Good), scheduled for this desired retention ([learning] desired_retention, from the turn's rules)."""

    question_id: int
    rating: int
    desired_retention: float = 0.9


@dataclass(frozen=True)
class FinishReview:
    """The review started on local date `key` is over (answered or skipped): the held lesson was delivered."""

    key: str


@dataclass(frozen=True)
class HoldLesson:
    """Outside WhatsApp's 24-hour window the daily lesson (local date `key`) is held: a nudge goes out instead, and
    the lesson is decided by the turn on the learner's reply (a pending (learner, 'held_lesson', key) row)."""

    key: str
    lesson_id: int
    nudge: bool = True  # False: the silent learner's back-off says no nudge today (the lesson waits all the same)


@dataclass(frozen=True)
class SettleHeldLesson:
    """The lesson held on local date `key` is settled: done (released on the reply), skipped_unanswered (a later
    day's lesson took its place) or cancelled (STOP, PAUSE, nothing left to send). A nudge not yet sent is dropped."""

    key: str
    status: str


@dataclass(frozen=True)
class CompleteLesson:
    lesson_id: int
    correct: int
    total: int
    passed: bool
    local_date: str
    missed: tuple[int, ...] = ()  # question ids still wrong after this attempt: a retry asks only these


@dataclass(frozen=True)
class RecordCheckin:
    """A check-in answer (never graded for the learner): phase 'before' lesson 1 or 'after' the last lesson."""

    course_id: int
    phase: str  # before | after
    position: int  # 1-based question position in the course's check-in
    given: str
    correct: bool


@dataclass(frozen=True)
class CompleteCourse:
    course_id: int
    score: int


@dataclass(frozen=True)
class AwardBadge:
    code: str
    course_id: int | None = None


@dataclass(frozen=True)
class ScheduleQuiz:
    """Send this lesson's quiz by itself at due_at unless the learner starts it first (the scheduler's job)."""

    lesson_id: int
    due_at: datetime


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


@dataclass(frozen=True)
class EraseLearner:
    """Erase personal data and messages; keep only anonymous aggregates (progress, answers, badges)."""


@dataclass(frozen=True)
class ExportData:
    """MYDATA: a full copy of the learner's data, as a file behind a signed link the worker sends (turns.exports)."""


@dataclass(frozen=True)
class IssueCertificate:
    course_id: int
    score: int


@dataclass(frozen=True)
class AskTutor:
    question: str
    lesson_id: int | None = None


@dataclass(frozen=True)
class AskPerson:
    """Hand the conversation to a teacher (store.handover.open_handover; one open per learner, a second reason is
    added to it). The learner has been told, so the turn also records that as the hour's acknowledgement."""

    reason: str  # asked | safeguarding | … (store.handover.REASONS)
    detail: str = ""


@dataclass(frozen=True)
class HandoverMessage:
    """Free text while a teacher has the conversation: kept for the teacher (a learner_message event), not answered
    by the bot. `acked`: the learner was told again that a teacher will answer (at most once an hour)."""

    body: str
    acked: bool = False


@dataclass(frozen=True)
class CloseHandover:
    """STOP while a teacher has the conversation: it is closed (by nobody: the learner left)."""


Effect = (
    UpdateLearner
    | Enroll
    | MoveToTranslation
    | RecordDelivery
    | StartQuiz
    | RecordAnswer
    | CompleteLesson
    | CompleteCourse
    | RecordCheckin
    | StartReview
    | RecordReview
    | FinishReview
    | HoldLesson
    | SettleHeldLesson
    | AwardBadge
    | ScheduleQuiz
    | OptOut
    | OptIn
    | EraseLearner
    | ExportData
    | IssueCertificate
    | AskTutor
    | AskPerson
    | HandoverMessage
    | CloseHandover
)
