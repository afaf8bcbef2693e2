"""One turn being decided: the inputs, the replies and effects gathered so far, and small shared helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, TypeVar

from coachbox.content.markup import BUTTON_BODY_LIMIT, MESSAGE_LIMIT
from coachbox.conversation.effects import Effect, UpdateLearner
from coachbox.conversation.state import State
from coachbox.conversation.texts import FALLBACK, Texts
from coachbox.learning.course import Catalogue, Course, Lesson
from coachbox.learning.evolve import evolve
from coachbox.learning.learner import Learner
from coachbox.learning.streaks import Streak
from coachbox.learning.timeparse import local_date, local_hour


@dataclass(frozen=True)
class Rules:
    """The settings a turn needs, as plain values (the service builds them from Settings)."""

    org_name: str = "Coachbox Academy"
    default_timezone: str = "Africa/Nairobi"
    default_lesson_time: str = "07:00"
    quiz_followup_minutes: int = 30
    daily_next_cap: int = 3
    freeze_every_days: int = 7
    leaderboard: bool = False
    prompt_daily_days: int = 2  # [schedule] reminder_daily_days: the silent learner's back-off (learning.backoff)
    prompt_gaps: tuple[int, ...] = (2, 4, 7)  # [schedule] reminder_backoff_days
    message_retention_days: int = 0  # [schedule] message_retention_days: MYDATA tells the learner (0: kept)
    desired_retention: float = 0.9  # [learning] desired_retention: review's FSRS target (learning.review)
    lean_days: bool = True  # [learning] lean_days: the quiz starts with the lesson, fewer messages a day
    buttons: bool = False  # the channel shows options as native buttons (Meta; Twilio with quick_reply templates)
    office_hours: str = "mon-fri 08:00-16:00"  # [handover] office_hours, in default_timezone (conversation.handover)
    safeguarding_words: tuple[str, ...] = ()  # [handover] safeguarding_words: hand the message to a teacher at once
    quiz_style: str = "per_question"  # [learning] quiz_style: the whole quiz in the lesson's message, or per_question
    lesson_days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # [schedule] lesson_days: weekdays, Monday 0 (streaks)
    message_limit: int = MESSAGE_LIMIT  # the channel's longest message (content.markup.message_limit): what fold fills

    @property
    def one_message(self) -> bool:
        """The quiz in one message (conversation.quizmessage): lean days only, where the quiz starts in the lesson."""
        return self.lean_days and self.quiz_style == "one_message"


@dataclass(frozen=True)
class Reply:
    """A message to send: text, its kind (reply, lesson, quiz, badge…), optional media and quick-reply options."""

    text: str
    kind: str = "reply"
    media: str | None = None  # path under data/, e.g. "media/mobile-money-safety/pin.jpg"
    options: tuple[str, ...] = ()
    template: str | None = None  # [twilio.templates] key for outside the 24-hour window (the lesson_nudge)
    variables: tuple[str, ...] = ()  # that template's ContentVariables "1", "2", … in order

    def evolve(self, **changes: Any) -> Reply:
        """dataclasses.replace(self, **changes), cheaper (learning.evolve): folding copies a reply per lesson."""
        return evolve(self, _REPLY_FIELDS, changes)


_REPLY_FIELDS = frozenset(f.name for f in fields(Reply))
T = TypeVar("T")
_PERSONAL = object()  # Turn.common: what this key makes names the learner, so it is made for each one

_STREAK_FIELDS = {
    "streak": "current",
    "best_streak": "best",
    "streak_freezes": "freezes",
    "last_active_date": "last_active_date",
}


@dataclass
class Turn:
    learner: Learner
    catalogue: Catalogue
    texts: Texts
    now: datetime
    rules: Rules
    state: State
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # answers asked again this turn
    # Answers the same for every turn of a batch (one catalogue, texts, rules and now), shared by its turns: the
    # daily fan-out's decide_batch makes one per batch (kept, common). None: this turn keeps its own (memo).
    shared: dict[Any, Any] | None = field(default=None, repr=False, compare=False)

    # -- output ------------------------------------------------------------------------------------
    @property
    def lang(self) -> str:
        return self.learner.language if self.texts.has(self.learner.language) else FALLBACK

    def t(self, key: str, /, **values: Any) -> str:
        values.setdefault("name", self.learner.first_name)
        values.setdefault("org", self.rules.org_name)
        return self.texts.t(self.lang, key, **values)

    def say(self, key: str, /, *, kind: str = "reply", options: tuple[str, ...] = (), **values: Any) -> None:
        self.replies.append(Reply(self.t(key, **values), kind=kind, options=options))

    def send(self, text: str, *, kind: str = "reply", media: str | None = None, options: tuple[str, ...] = ()) -> None:
        self.replies.append(Reply(text, kind=kind, media=media, options=options))

    def append(self, key: str, /, **values: Any) -> None:
        """Add a paragraph to the last reply (one WhatsApp message instead of two), or say it."""
        if not self.replies:
            self.say(key, **values)
            return
        last = self.replies[-1]
        self.replies[-1] = last.evolve(text=f"{last.text}\n\n{self.t(key, **values)}")

    def fold(self, start: int, limit: int | None = None) -> None:
        """Lean days: the replies from `start` on as few WhatsApp messages as fit (each at most `limit`
        characters), in order; a template or a media message stays its own, and a folded message keeps the
        quick-reply options of its last part (a message that ends with a question still carries its buttons). On a
        channel with buttons, a question is not folded into a message that would grow too long for them. `limit`:
        the channel's (rules.message_limit: 4,096 on Meta, 1,600 on Twilio)."""
        limit = self.rules.message_limit if limit is None else limit
        folded: list[Reply] = []
        for reply in self.replies[start:]:
            last = folded[-1] if folded else None
            size = len(last.text) + 2 + len(reply.text) if last is not None else 0
            loses_buttons = self.rules.buttons and bool(reply.options) and size > BUTTON_BODY_LIMIT >= len(reply.text)
            if (
                last is not None
                and last.template is None
                and last.media is None
                and reply.template is None
                and reply.media is None
                and size <= limit
                and not loses_buttons
            ):
                kind = "lesson" if "lesson" in (last.kind, reply.kind) else last.kind  # a lesson is counted as one
                folded[-1] = last.evolve(text=f"{last.text}\n\n{reply.text}", options=reply.options, kind=kind)
            else:
                folded.append(reply)
        self.replies[start:] = folded

    def kept(self, key: tuple, make: Callable[[], T]) -> T:
        """make(), made once this turn, or once for the whole batch when there is one (`shared`): key names all
        that the answer depends on (a zone, a lesson time…), and it is the same for any learner with that key."""
        answers = self.memo if self.shared is None else self.shared
        if key not in answers:
            answers[key] = make()
        return answers[key]

    def common(self, key: tuple, make: Callable[[Turn], T]) -> T:
        """make(self), kept in the batch's `shared` answers under `key` when it is the same for every learner: key
        names all that make reads (lesson, language…) but the learner's name. Whether a locale's text names the
        learner is found out once per key, by making it again for a learner without a name."""
        if self.shared is None:
            return make(self)
        hit = self.shared.get(key, _PERSONAL)
        if hit is not _PERSONAL:
            return hit
        if key in self.shared:  # it names the learner: made for each one
            return make(self)
        made = make(self)
        nameless = replace(self, learner=self.learner.evolve(name="\0", profile_name=None), replies=[], effects=[])
        nameless.memo, nameless.shared = {}, None
        self.shared[key] = made if make(nameless) == made else _PERSONAL
        return made

    def do(self, effect: Effect) -> None:
        self.effects.append(effect)

    def update(self, **changes: Any) -> None:
        """Change learner fields: an UpdateLearner effect, and the snapshot the rest of this turn reads."""
        self.do(UpdateLearner.of(**changes))
        streak = {_STREAK_FIELDS[k]: v for k, v in changes.items() if k in _STREAK_FIELDS}
        plain = {k: v for k, v in changes.items() if k not in _STREAK_FIELDS}
        if streak:
            plain["streak"] = replace(self.learner.streak, **streak)
        self.learner = replace(self.learner, **plain)

    def set_streak(self, streak: Streak) -> None:
        self.update(
            streak=streak.current,
            best_streak=streak.best,
            streak_freezes=streak.freezes,
            last_active_date=streak.last_active_date,
        )

    # -- lookups -----------------------------------------------------------------------------------
    @property
    def today(self) -> str:
        # Asked several times a turn, and the same for every learner of a batch in one zone.
        zone = self.learner.timezone
        return self.kept(("today", self.now, zone), lambda: local_date(self.now, zone))

    @property
    def hour(self) -> int:
        return local_hour(self.now, self.learner.timezone)

    @property
    def course(self) -> Course | None:
        return self.catalogue.course(self.learner.current_course_id)

    def find_lesson(self, lesson_id: int | None) -> tuple[Course, Lesson] | None:
        return self.catalogue.lesson(lesson_id)

    def courses_offered(self) -> tuple[Course, ...]:
        return self.catalogue.for_language(self.lang)

    def words(self, key: str) -> tuple[str, ...]:
        return self.texts.words(self.lang, key)
