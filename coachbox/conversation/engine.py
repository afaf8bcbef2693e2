"""The conversation engine: handle(event, state, learner, catalogue, texts, now) → Decision. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from coachbox.conversation import (
    account,
    checkin,
    commands,
    handover,
    lessons,
    onboarding,
    quiz,
    reports,
    review,
    welcome,
)
from coachbox.conversation import premium as payment_chat
from coachbox.conversation.effects import Effect
from coachbox.conversation.events import (
    DeliverDailyLesson,
    Event,
    Message,
    QuizFollowUp,
)
from coachbox.conversation.state import ONBOARDING, State, with_flow
from coachbox.conversation.texts import Texts
from coachbox.conversation.turn import Reply, Rules, Turn
from coachbox.learning.course import Catalogue
from coachbox.learning.grading import normalise
from coachbox.learning.learner import Learner

__all__ = ["Decision", "Reply", "Rules", "handle"]


@dataclass(frozen=True)
class Decision:
    state: State
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...]


def handle(
    event: Event,
    state: State,
    learner: Learner,
    catalogue: Catalogue,
    texts: Texts,
    now: datetime,
    rules: Rules = Rules(),
    shared: dict[Any, Any] | None = None,
) -> Decision:
    """Decide one turn. Time, the catalogue and the learner come in; replies, effects and the new state go out.
    shared: a dict the caller keeps for a batch of turns with the same catalogue, texts, rules and now (Turn.shared):
    what is the same for all of them is made once. The decision is the same with it or without."""
    turn = Turn(learner=learner, catalogue=catalogue, texts=texts, now=now, rules=rules, state=state, shared=shared)
    if isinstance(event, Message):
        _on_message(turn, event)
        welcome.back(turn, learner)  # back after missed days: said once, at the head of the first reply
    elif handover.lessons_paused(turn):
        pass  # a teacher paused this learner's lessons while they talk: no daily lesson, no follow-up quiz
    elif isinstance(event, DeliverDailyLesson):
        _daily(turn)
    elif isinstance(event, QuizFollowUp):
        quiz.follow_up(turn, event.lesson_id)
    checkin.after_course(turn)  # a course with a check-in finished in this turn: its questions again
    return Decision(turn.state, tuple(turn.replies), tuple(turn.effects))


def _daily(turn: Turn) -> None:
    """The scheduler's daily event: outside the window a nudge holds the day's lesson (and review) for the
    learner's reply; inside it, due review questions first (the lesson follows the review), else the lesson."""
    stale = review.close_stale(turn)
    if lessons.hold(turn):
        return
    lessons.settle_held(turn, "skipped_unanswered")  # an older day's held lesson: today's takes its place
    if stale or not review.daily(turn):
        lessons.daily(turn)


# Flows the learner entered by a command after a nudge (a proactive turn's state is rebuilt, never one of these):
# their answers are for the question on screen, and the held lesson waits until it is answered.
_SIDE_FLOWS = frozenset({"choose_course", "choose_language", "set_time", "confirm_delete", *payment_chat.FLOWS})


def _release_held(turn: Turn) -> bool:
    """The learner answered a nudge: the held lesson now, in this turn, as the daily event would have sent it
    (a due review first). Their words were "send it": no other reply. False when there is nothing to send."""
    if lessons.hold_released(turn):
        if not review.daily(turn):
            lessons.daily(turn, greeting="lesson.held_greeting")
        return True
    return False


def _on_message(turn: Turn, message: Message) -> None:
    said = message.said
    command = commands.from_channel(message.command) or commands.parse(turn.texts, turn.lang, said)
    flow = turn.state.flow
    if flow == "new":
        if command is not None and command.name == "stop":
            account.stop(turn)
            turn.state = with_flow(turn.state, "onboarding_name")
            return
        onboarding.start(turn, said)
        return
    if flow == "confirm_delete":
        if command is not None and command.name == "stop":
            turn.state = with_flow(turn.state, "idle")  # STOP wins everywhere; the deletion is not confirmed
            account.stop(turn)
        else:
            account.confirm_delete(turn, said)
        return
    if command is not None:
        _run_command(turn, command)
        return
    if turn.learner.opted_out:
        turn.say("account.opted_out_reminder")
        return
    if handover.intercept(turn, said, message.media_count):  # a teacher has it (or must): not the bot's
        return
    if turn.learner.held is not None and flow not in _SIDE_FLOWS and flow not in ONBOARDING and _release_held(turn):
        return
    if flow in ONBOARDING:
        onboarding.step(turn, said)
    elif flow == "quiz":  # an answer counts; what is none goes to a teacher who has the conversation (handover)
        handover.answer_or_hand_over(turn, said, message.media_count, quiz.answer)
    elif flow == "review":
        handover.answer_or_hand_over(turn, said, message.media_count, review.answer)
    elif flow in checkin.FLOWS:
        handover.answer_or_hand_over(turn, said, message.media_count, checkin.answer)
    elif flow == "choose_course":
        if not lessons.choose_course(turn, said):
            _leave_side_flow(turn, said, message)
        else:
            checkin.start_before(turn)  # a course new to them with a check-in: asked now, before its lesson 1
    elif flow == "choose_language":
        if not account.choose_language(turn, said):
            _leave_side_flow(turn, said, message)
    elif flow in payment_chat.FLOWS:
        if not payment_chat.answer(turn, said):
            _leave_side_flow(turn, said, message)
    elif flow == "set_time":
        if not account.set_time(turn, said):
            turn.state = replace(turn.state, unclear=turn.state.unclear + 1)
            if turn.state.unclear >= 2:
                _leave_side_flow(turn, said, message)
            else:
                turn.say("time.unclear")
    elif flow == "lesson" and _is_yes(turn, said):
        quiz.start(turn, turn.state.lesson_id)
    else:
        reports.free_text(turn, said, message.media_count)
        if flow == "lesson":
            turn.append("lesson.quiz_waiting")


def _is_yes(turn: Turn, said: str) -> bool:
    words = normalise(said)
    return turn.texts.is_word(turn.lang, "yes", words) or turn.texts.is_word(turn.lang, "ok", words)


def _leave_side_flow(turn: Turn, said: str, message: Message) -> None:
    """Not an answer to the side question: go back to where the learner was and treat it as a new message."""
    turn.state = with_flow(turn.state, turn.state.return_flow, options=())
    if turn.learner.held is not None and _release_held(turn):
        return
    if turn.state.flow == "quiz":
        quiz.answer(turn, said)
    elif turn.state.flow == "review":
        review.answer(turn, said)
    else:
        reports.free_text(turn, said, message.media_count)


def _run_command(turn: Turn, command: commands.Command) -> None:
    name = command.name
    if turn.learner.opted_out and name not in (
        "start",
        "stop",
        "help",
        "mydata",
        "delete",
        "progress",
        "certificate",
        "language",
        "leaderboard",
    ):
        turn.say("account.opted_out_reminder")
        return
    onboarding_now = turn.state.flow in ONBOARDING
    if onboarding_now and name not in commands.DURING_ONBOARDING:
        turn.say("onboarding.finish_first")
        onboarding.reprompt(turn)
        return
    in_quiz = turn.state.flow == "quiz"
    in_review = turn.state.flow == "review"
    in_checkin = turn.state.flow in checkin.FLOWS
    if name == "help":
        reports.help_menu(turn)
    elif name == "stop":
        account.stop(turn)
        lessons.settle_held(turn, "cancelled")  # nothing is sent after STOP, not even the held lesson
    elif name == "start":
        account.start(turn)
    elif name == "next":
        if in_review:
            review.skip(turn)  # the held lesson now; the rest of the review waits, with no wrong mark
        elif in_checkin:
            checkin.skip(turn, lesson_now=True)  # before lesson 1: the lesson now; after the last: the course menu
        elif turn.learner.held is not None and _release_held(turn):
            pass  # a lesson now: the one held by the nudge (no NEXT of the daily cap used)
        else:
            lessons.next_now(turn)
        return
    elif name == "quiz":
        if in_quiz:
            quiz.reprompt(turn)
        else:
            quiz.start(turn, quiz.target_lesson(turn))
        return
    elif name == "progress":
        reports.progress(turn)
    elif name == "courses":
        lessons.show_courses(turn)
        if command.argument and turn.state.flow == "choose_course" and lessons.choose_course(turn, command.argument):
            turn.replies.pop(-2)  # "COURSES 2": the learner named the course already, no need for the menu
            checkin.start_before(turn)
        return
    elif name == "time":
        account.time(turn, command.argument)
        return
    elif name == "language":
        account.language(turn, command.argument)
        if onboarding_now and turn.state.flow != "choose_language":
            onboarding.reprompt(turn)
        return
    elif name == "pause":
        account.pause(turn)
        lessons.settle_held(turn, "cancelled")
    elif name == "resume":
        account.resume(turn)
    elif name == "mydata":
        account.my_data(turn)
    elif name == "delete":
        account.delete(turn)
        return
    elif name == "certificate":
        reports.certificate(turn)
    elif name == "leaderboard":
        reports.leaderboard(turn)
    elif name == "ask":
        if not handover.safeguarding(turn, command.argument):
            reports.ask(turn, command.argument)
    elif name == "teacher":
        handover.ask(turn, command.argument)
    elif name == "payments.pay":
        payment_chat.pay(turn)
        return
    elif name == "payments.cancel":
        payment_chat.cancel(turn)
    # Information commands leave the flow as it was: remind the learner what is still open.
    if name in ("stop", "start", "pause", "resume", "teacher"):
        pass  # (TEACHER: what they write next is for the teacher; an open quiz still takes its answers)
    elif onboarding_now:
        onboarding.reprompt(turn)
    elif turn.learner.held is not None:
        turn.append("lesson.held_waiting")  # the command answered; the lesson still waits for a word from them
    elif in_quiz:
        quiz.reprompt(turn)
    elif in_review:
        review.reprompt(turn)
    elif in_checkin:
        checkin.reprompt(turn)
    turn.state = replace(turn.state, confused=0)
