"""Talking to a person (handover): TEACHER, the bot keeping out of free text meanwhile, safeguarding words. Pure.

While a learner's handover is open (Learner.handover, loaded by the turn), their free text goes to the teacher
(HandoverMessage) and the bot answers none of it: they are told a teacher will answer at most once an hour.
Commands (STOP, HELP, PROGRESS, LANGUAGE…), answers to an open quiz, review or check-in and the questions of a side
flow (COURSES, TIME…) work as always. STOP also closes the handover. Office hours ([handover] office_hours, in the
school's time zone) are said in the learner's language, with "soon" inside them and when they next start outside.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_time, get_day_names

from coachbox.conversation.effects import AskPerson, CloseHandover, HandoverMessage
from coachbox.conversation.turn import Turn
from coachbox.core.hours import OfficeHours, parse
from coachbox.learning.grading import normalise

ACK_EVERY = timedelta(hours=1)
# Flows where a message is free text the bot would answer itself: there, during a handover, it goes to the teacher.
# Every other flow is a question the bot asked (a quiz, review, check-in, COURSES, TIME, onboarding…): answered.
SILENCED_FLOWS = frozenset({"idle", "lesson"})
_SPLIT = re.compile(r"[^\w']+")


@lru_cache(maxsize=8)
def _hours(text: str) -> OfficeHours:
    return parse(text)  # config refuses a value it cannot read at start: this never raises on a running box


@lru_cache(maxsize=8)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _clock(turn: Turn, moment: datetime) -> str:
    return format_time(moment.time(), "HH:mm", locale=_locale(turn.lang))


def hours_text(turn: Turn) -> str:
    """The office hours in the learner's language: "Mon–Fri 08:00–16:00", "Jumatatu–Ijumaa 08:00–16:00"."""
    return format_hours(turn.lang, turn.rules.office_hours)


def format_hours(language: str, office_hours: str) -> str:
    """[handover] office_hours in a language's day names and clock ("Mon–Fri 08:00–16:00; Sat 09:00–12:00")."""
    locale = _locale(language)
    short = get_day_names("abbreviated", locale=locale)
    parts = []
    for span in _hours(office_hours).spans:
        runs: list[list[int]] = []
        for day in span.days:
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        days = ", ".join(short[r[0]] if len(r) == 1 else f"{short[r[0]]}–{short[r[-1]]}" for r in runs)
        start = format_time(span.start, "HH:mm", locale=locale)
        end = format_time(span.end, "HH:mm", locale=locale)
        parts.append(f"{days} {start}–{end}")
    return "; ".join(parts)


def next_text(turn: Turn) -> str | None:
    """None inside office hours; else when they next start, in the learner's words: "tomorrow at 08:00"."""
    local = turn.now.astimezone(ZoneInfo(turn.rules.default_timezone))
    hours = _hours(turn.rules.office_hours)
    if hours.is_open(local):
        return None
    opening = hours.next_opening(local)
    days = (opening.date() - local.date()).days
    time = _clock(turn, opening)
    if days == 0:
        return turn.t("handover.today_at", time=time)
    if days == 1:
        return turn.t("handover.tomorrow_at", time=time)
    day = get_day_names("wide", locale=_locale(turn.lang))[opening.weekday()]
    return turn.t("handover.on_day_at", day=day, time=time)


def _say_when(turn: Turn, prefix: str) -> None:
    upcoming = next_text(turn)
    hours = hours_text(turn)
    if upcoming is None:
        turn.say(f"handover.{prefix}_open", hours=hours)
    else:
        turn.say(f"handover.{prefix}_closed", hours=hours, next=upcoming)


def ask(turn: Turn, detail: str = "") -> None:
    """TEACHER (MWALIMU…): hand the conversation to a person, and say honestly when one answers."""
    already = turn.learner.handover is not None
    turn.do(AskPerson("asked", detail.strip()[:2000]))
    _say_when(turn, "already" if already else "asked")


def stop(turn: Turn) -> None:
    """STOP during a handover: it is closed (the learner left); STOP itself is said by account.stop."""
    if turn.learner.handover is not None:
        turn.do(CloseHandover())


def words_match(words: tuple[str, ...], said: str) -> str | None:
    """The first of `words` (words or phrases) found in `said` as whole words, any case: "abused" is found in
    "I was abused", not in "disabused". None when none is."""
    if not words:
        return None
    padded = " " + " ".join(t for t in _SPLIT.split(normalise(said)) if t) + " "
    if padded == "  ":
        return None
    for word, phrase in _phrases(words):
        if phrase in padded:
            return word
    return None


@lru_cache(maxsize=16)
def _phrases(words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each word or phrase as " its words " (normalised once per setting, not per message)."""
    found = []
    for word in words:
        tokens = [t for t in _SPLIT.split(normalise(word)) if t]
        if tokens:
            found.append((word, " " + " ".join(tokens) + " "))
    return tuple(found)


def safeguarding(turn: Turn, said: str) -> bool:
    """A safeguarding word ([handover] safeguarding_words) in free text: a teacher is told at once, and the learner
    where to get help now. True when it matched (the bot then says nothing else about the message)."""
    found = words_match(turn.rules.safeguarding_words, said)
    if found is None:
        return False
    turn.do(AskPerson("safeguarding", said.strip()[:2000]))
    turn.say("handover.safeguarding")
    turn.append("handover.teacher_told")
    return True


def answer_or_hand_over(turn: Turn, said: str, media_count: int, answer: Callable[[Turn, str], object]) -> None:
    """A message in a flow that asked a question (quiz, review, check-in): an answer counts as always. One that is
    no answer (it records nothing) goes, instead of "I couldn't read that", to the teacher who has the
    conversation, or to one at once when it holds a safeguarding word."""
    state, learner, memo = turn.state, turn.learner, dict(turn.memo)
    replies, effects = len(turn.replies), len(turn.effects)
    answer(turn, said)
    if len(turn.effects) > effects:
        return
    held = turn.learner.handover is not None and turn.learner.handover.bot_paused
    if not held and words_match(turn.rules.safeguarding_words, said) is None:
        return  # no answer, no teacher: the flow's own "unclear" reply stands
    turn.state, turn.learner, turn.memo = state, learner, memo
    del turn.replies[replies:]
    del turn.effects[effects:]
    if held:
        _to_teacher(turn, said, media_count)
    else:
        safeguarding(turn, said)


def intercept(turn: Turn, said: str, media_count: int = 0) -> bool:
    """Free text (no command) the bot must not answer itself: during a handover, or with a safeguarding word. True
    when handled here; the engine then does nothing else with the message."""
    if silenced(turn, said, media_count):
        return True
    return turn.state.flow in SILENCED_FLOWS and safeguarding(turn, said)


def silenced(turn: Turn, said: str, media_count: int = 0) -> bool:
    """Free text while a teacher has the conversation: kept for them, not answered by the bot (True). The learner
    is told a teacher will answer at most once an hour. False when no handover holds this message."""
    handover = turn.learner.handover
    if handover is None or not handover.bot_paused or turn.state.flow not in SILENCED_FLOWS:
        return False
    _to_teacher(turn, said, media_count)
    return True


def _to_teacher(turn: Turn, said: str, media_count: int) -> None:
    """The message is for the teacher of the open handover; the learner hears so at most once an hour (and where
    help is at once, with a safeguarding word, which the teacher sees flagged)."""
    handover = turn.learner.handover
    if handover is None:
        return
    body = said.strip() or (f"[{media_count} media]" if media_count else "")
    if words_match(turn.rules.safeguarding_words, said) is not None:
        turn.do(AskPerson("safeguarding", body[:2000]))  # the teacher sees it flagged; the learner, where help is
        turn.say("handover.safeguarding")
        turn.append("handover.teacher_told")
        turn.do(HandoverMessage(body, acked=True))
        return
    last = datetime.fromisoformat(handover.acked_at) if handover.acked_at else None
    due = last is None or turn.now - last >= ACK_EVERY
    turn.do(HandoverMessage(body, acked=due))
    if due:
        upcoming = next_text(turn)
        if upcoming is None:
            turn.say("handover.waiting_open")
        else:
            turn.say("handover.waiting_closed", next=upcoming)


def lessons_paused(turn: Turn) -> bool:
    """Has a teacher paused this learner's scheduled lessons (and follow-up quizzes) while they talk?"""
    handover = turn.learner.handover
    return handover is not None and handover.lessons_paused
