"""The learner as the engine sees them: a frozen snapshot of their record, enrollments and results."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from coachbox.learning.backoff import Prompts
from coachbox.learning.evolve import evolve
from coachbox.learning.progress import LessonResult
from coachbox.learning.streaks import Streak


@dataclass(frozen=True)
class Enrollment:
    course_id: int
    status: str = "active"  # active | completed | dropped
    next_position: int = 1


@dataclass(frozen=True)
class OpenLesson:
    """The latest delivered lesson whose quiz is not finished (how a lost session is rebuilt)."""

    lesson_id: int
    quiz_started: bool = False
    answers: tuple[bool, ...] = ()  # correctness of this attempt's answers so far, in order


@dataclass(frozen=True)
class Review:
    """Spaced-repetition questions due for review (the service reads them from review_items)."""

    due: tuple[int, ...] = ()  # question ids still to ask today, most overdue first
    asked: int = 0  # questions already answered in the open review
    open_since: str | None = None  # local date of a review that holds that day's lesson until it is finished


@dataclass(frozen=True)
class Handover:
    """The learner's open conversation with a teacher (store.handover, migration 0020), as the engine reads it."""

    id: int
    reason: str
    opened_at: str
    acked_at: str | None = None  # ISO-8601: the learner was last told a teacher will answer
    bot_paused: bool = True  # the bot does not answer their free text
    lessons_paused: bool = False  # a teacher paused the scheduled lessons meanwhile


@dataclass(frozen=True)
class LeaderRow:
    first_name: str
    lessons: int
    is_me: bool = False
    position: int = 0  # 1 = first; learners with as many lessons share a place


@dataclass(frozen=True)
class Learner:
    id: int
    channel: str = "simulator"
    phone: str | None = None
    name: str | None = None
    profile_name: str | None = None
    language: str = "en"
    timezone: str = "Africa/Nairobi"
    lesson_time: str = "07:00"
    status: str = "onboarding"  # onboarding | active | paused | finished | deleted
    opted_out: bool = False
    current_course_id: int | None = None
    streak: Streak = field(default_factory=Streak)
    next_taken_date: str | None = None
    next_taken_count: int = 0
    enrollments: tuple[Enrollment, ...] = ()
    results: tuple[LessonResult, ...] = ()
    badges: frozenset[str] = frozenset()
    # Courses whose check-in the learner answered (some of) before lesson 1: only they get it again after the last.
    # The daily fan-out's snapshots (store.proactive) leave it empty: a proactive turn never starts a check-in.
    checked_in: frozenset[int] = frozenset()
    last_lesson_id: int | None = None  # the most recently delivered lesson
    open_lesson: OpenLesson | None = None
    message_count: int = 0  # messages stored; the service stops counting at 2 unless the turn may show it (MYDATA)
    created_at: str = ""
    rank: tuple[LeaderRow, ...] = ()  # this week's cohort top 5 (+ the learner's own row), when enabled
    cohort: str | None = None
    access: Any = None  # coachbox.learning.access.Access: live subscriptions and plans (the service loads it)
    last_inbound_at: str | None = None  # ISO-8601: the learner's last message (WhatsApp's 24-hour window)
    welcomed_back_on: str | None = None  # local date of the last "welcome back" after missed days (once per return)
    review: Review = field(default_factory=Review)
    held: str | None = None  # local date of a daily lesson held for the learner's reply (outside the 24-hour window)
    prompts: Prompts = field(default_factory=Prompts)  # nudges and reminders since they last wrote (the back-off)
    handover: Handover | None = None  # open with a teacher (conversation.handover): the bot keeps out of free text

    # Plain loops, not next(generator): a daily lesson asks these for every learner of a fan-out.
    def enrollment(self, course_id: int | None) -> Enrollment | None:
        for enrollment in self.enrollments:
            if enrollment.course_id == course_id:
                return enrollment
        return None

    def result(self, lesson_id: int | None) -> LessonResult | None:
        for result in self.results:
            if result.lesson_id == lesson_id:
                return result
        return None

    @property
    def first_name(self) -> str:
        return (self.name or self.profile_name or "").split(" ")[0]

    def evolve(self, **changes: Any) -> Learner:
        """dataclasses.replace(self, **changes), cheaper (conversation.evolve): the daily fan-out makes one or two
        snapshots per learner."""
        return evolve(self, _FIELDS, changes)


_FIELDS = frozenset(f.name for f in fields(Learner))


# The learners columns a turn may change (UpdateLearner); anything else is a bug caught at once.
LEARNER_FIELDS = frozenset(
    {
        "name",
        "language",
        "timezone",
        "lesson_time",
        "status",
        "current_course_id",
        "streak",
        "best_streak",
        "streak_freezes",
        "last_active_date",
        "next_taken_date",
        "next_taken_count",
        "welcomed_back_on",
    }
)
