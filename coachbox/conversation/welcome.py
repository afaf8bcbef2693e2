"""Welcome back: the first reply after missed days also says, without blame, what the learner keeps."""

from __future__ import annotations

from dataclasses import replace

from coachbox.content.markup import MESSAGE_LIMIT
from coachbox.conversation.effects import EraseLearner, OptOut
from coachbox.conversation.turn import Turn
from coachbox.learning.learner import Learner
from coachbox.learning.streaks import welcome_back_due


def back(turn: Turn, before: Learner) -> None:
    """After a message turn: when the learner (as they were before it) is back after missed days, put the welcome
    at the head of the first reply it fits in (no message of its own, so nothing extra to pay for) and note the
    day, so it comes once per return. What they keep: lessons finished, their longest streak, their badges."""
    if before.status not in ("active", "finished") or before.opted_out or not turn.replies:
        return
    if any(isinstance(effect, (OptOut, EraseLearner)) for effect in turn.effects):
        return
    if not welcome_back_due(before.streak, turn.today, before.welcomed_back_on, turn.rules.lesson_days):
        return
    lines = [
        turn.t("welcome.back"),
        turn.t("welcome.lessons", lessons=len(turn.learner.results)),
        turn.t("welcome.best", best=max(before.streak.best, turn.learner.streak.best)),
    ]
    owned = [b for b in turn.catalogue.badges if b.code in turn.learner.badges]
    if owned:
        lines.append(
            turn.t("welcome.badges", badges=", ".join(f"{b.emoji} {b.name(turn.lang)}".strip() for b in owned))
        )
    welcome = "\n".join(lines)
    for index, reply in enumerate(turn.replies):
        if reply.text == turn.t("free.greeting"):  # "hi" after days away: the welcome is the greeting
            text = welcome + "\n\n" + turn.t("welcome.menu")
        else:
            text = welcome + "\n" + turn.t("welcome.go") + "\n\n" + reply.text
        # The first reply it fits in (a lesson part may be near WhatsApp's limit); none: the next turn says it.
        if reply.template is None and len(text) <= MESSAGE_LIMIT:
            turn.replies[index] = replace(reply, text=text)
            turn.update(welcomed_back_on=turn.today)
            return
