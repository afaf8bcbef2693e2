"""Command keywords (from the locale files, any case, English accepted everywhere) → a command and its argument.
Opt-out and opt-in words (STOP, ACHA, START, ANZA…) of every installed language work for every learner."""

from __future__ import annotations

from dataclasses import dataclass

from coachbox.conversation.texts import Texts
from coachbox.learning.grading import normalise

# Checked in this order; STOP first so an opt-out is never mistaken for anything else.
COMMANDS = (
    "stop",
    "start",
    "help",
    "next",
    "quiz",
    "progress",
    "courses",
    "time",
    "language",
    "pause",
    "resume",
    "mydata",
    "delete",
    "certificate",
    "ask",
    "teacher",
    "leaderboard",
    "payments.pay",
    "payments.cancel",
)
# A learner may write STOP in any language they know, whatever language the box has for them: an opt-out missed
# would keep messaging someone who asked us to stop (and send "acha" to the AI tutor as a question).
EVERY_LANGUAGE = frozenset({"stop", "start"})
# These may carry an argument after the keyword: "TIME 7pm", "LANGUAGE sw", "ASK how do I reverse a payment?".
WITH_ARGUMENT = frozenset({"time", "language", "ask", "courses", "teacher"})
# What a learner may use before onboarding is finished; anything else re-asks the current step.
DURING_ONBOARDING = frozenset({"stop", "start", "help", "language", "mydata", "delete", "teacher"})


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""


def from_channel(name: str | None) -> Command | None:
    """The opt-out or opt-in the channel recognised (Twilio's OptOutType), whatever words the learner used."""
    return Command(name) if name in EVERY_LANGUAGE else None


def parse(texts: Texts, language: str, said: str) -> Command | None:
    """The command this message is, if any: the whole message is a keyword, or starts with one that takes
    an argument. 'next time I will study' is not NEXT: only commands with arguments match on the first word."""
    whole = normalise(said)
    if not whole or len(whole) > 400:
        return None if len(whole) > 400 else None
    for name in COMMANDS:
        if texts.is_word(language, name, whole) or (name in EVERY_LANGUAGE and texts.is_any_word(name, whole)):
            return Command(name)
    words = said.strip().split(None, 1)
    if len(words) == 2:
        first = normalise(words[0])
        for name in COMMANDS:
            if name in WITH_ARGUMENT and texts.is_word(language, name, first):
                return Command(name, words[1].strip())
    return None
