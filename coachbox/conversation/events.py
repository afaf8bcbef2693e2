"""What can start a turn: a learner's message, or a proactive event from the scheduler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    text: str = ""
    button_payload: str | None = None
    media_count: int = 0
    # A command the channel already recognised in the message: "stop" or "start" when Twilio's Advanced Opt-Out
    # matched one of its keywords (OptOutType), which may be a word no locale file has.
    command: str | None = None

    @property
    def said(self) -> str:
        """A quick-reply button's payload counts as what the learner typed."""
        return (self.button_payload or self.text or "").strip()


@dataclass(frozen=True)
class DeliverDailyLesson:
    """The learner's daily lesson time has come (the scheduler sends this once per local day)."""


@dataclass(frozen=True)
class QuizFollowUp:
    """quiz_followup_minutes after a lesson: send its quiz unless the learner has started it."""

    lesson_id: int


Event = Message | DeliverDailyLesson | QuizFollowUp
