"""The learner's own settings and data: STOP/START, PAUSE/RESUME, TIME, LANGUAGE, MYDATA and DELETE."""

from __future__ import annotations

from dataclasses import replace

from coachbox.conversation import handover, lessons, onboarding
from coachbox.conversation.effects import EraseLearner, ExportData, OptIn, OptOut
from coachbox.conversation.state import State, with_flow
from coachbox.conversation.turn import Turn
from coachbox.learning.grading import normalise
from coachbox.learning.timeparse import find_timezone, parse_lesson_time


def stop(turn: Turn) -> None:
    handover.stop(turn)  # a teacher's open conversation ends with it
    if turn.learner.opted_out:
        turn.say("account.already_stopped")
        return
    turn.do(OptOut())
    turn.learner = replace(turn.learner, opted_out=True)
    turn.say("account.stopped")


def start(turn: Turn) -> None:
    if not turn.learner.opted_out:
        turn.say("account.not_stopped")
        return
    turn.do(OptIn())
    turn.learner = replace(turn.learner, opted_out=False)
    turn.say("account.started", time=turn.learner.lesson_time)


def pause(turn: Turn) -> None:
    if turn.learner.status == "paused":
        turn.say("account.already_paused")
        return
    turn.update(status="paused")
    turn.say("account.paused")


def resume(turn: Turn) -> None:
    if turn.learner.status != "paused":
        turn.say("account.not_paused", time=turn.learner.lesson_time)
        return
    turn.update(status="active")
    turn.say("account.resumed", time=turn.learner.lesson_time)


def my_data(turn: Turn) -> None:
    learner = turn.learner
    courses = ", ".join(c.title for c in (turn.catalogue.course(e.course_id) for e in learner.enrollments) if c) or "-"
    turn.say(
        "account.mydata",
        who=learner.name or "-",
        phone=learner.phone or "-",
        channel=learner.channel,
        language=turn.texts.language_name(turn.lang),
        timezone=learner.timezone,
        time=learner.lesson_time,
        joined=(learner.created_at or "")[:10] or "-",
        courses=courses,
        lessons=len(learner.results),
        badges=len(learner.badges),
        messages=learner.message_count,
    )
    if turn.rules.message_retention_days:  # people have a right to know how long their words are kept
        turn.append("account.mydata_retention", days=turn.rules.message_retention_days)
    # ...and to a copy of all of it: the worker writes the file and sends the link (turns.exports).
    turn.do(ExportData())
    turn.append("account.mydata_export")


def delete(turn: Turn) -> None:
    turn.state = with_flow(turn.state, "confirm_delete", return_flow=_back(turn))
    turn.say("account.delete_confirm", options=(turn.words("yes")[0].upper(), turn.words("no")[0].upper()))


def confirm_delete(turn: Turn, said: str) -> None:
    if turn.texts.is_word(turn.lang, "yes", normalise(said)):
        turn.do(EraseLearner())
        # kind "farewell": once the sender hands it to the provider, the row forgets the address (migration 0010).
        turn.say("account.deleted", kind="farewell")
        turn.state = State(flow="new")
        return
    turn.state = with_flow(turn.state, turn.state.return_flow if turn.state.lesson_id else "idle")
    turn.say("account.delete_cancelled")


def language(turn: Turn, argument: str) -> None:
    if argument:
        code = onboarding.pick_language(turn, argument)
        if code is not None:
            _set_language(turn, code)
            return
    menu, options = onboarding.language_menu(turn)
    turn.state = with_flow(turn.state, "choose_language", return_flow=_back(turn))
    turn.say("language.menu", menu=menu, options=options)


def choose_language(turn: Turn, said: str) -> bool:
    code = onboarding.pick_language(turn, said)
    if code is None:
        return False
    turn.state = with_flow(turn.state, turn.state.return_flow)
    _set_language(turn, code)
    return True


def _set_language(turn: Turn, code: str) -> None:
    turn.update(language=code)
    turn.say("language.set", language=turn.texts.language_name(code))
    course = turn.course
    if course is not None and course.language != code:
        translated = [c for c in turn.catalogue.courses if c.family == course.family and c.language == code]
        if translated:
            lessons.move_to_translation(turn, course, translated[0])


def time(turn: Turn, argument: str) -> None:
    if argument and _apply_time(turn, argument):
        return
    turn.state = with_flow(turn.state, "set_time", return_flow=_back(turn))
    turn.say("time.ask", time=turn.learner.lesson_time, timezone=turn.learner.timezone)


def set_time(turn: Turn, said: str) -> bool:
    if not _apply_time(turn, said):
        return False
    if turn.state.flow == "set_time":
        turn.state = with_flow(turn.state, turn.state.return_flow)
    return True


def _apply_time(turn: Turn, said: str) -> bool:
    zone = find_timezone(said)
    if zone:
        turn.update(timezone=zone)
        turn.say("time.zone_set", timezone=zone)
        return True
    chosen = parse_lesson_time(said)
    if chosen is None:
        return False
    turn.update(lesson_time=chosen)
    turn.say("time.set", time=chosen, timezone=turn.learner.timezone)
    return True


def _back(turn: Turn) -> str:
    return turn.state.flow if turn.state.flow in ("lesson", "quiz", "review") else "idle"
