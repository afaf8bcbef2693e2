"""First contact: welcome, name, language, course and daily lesson time; then the first lesson right away."""

from __future__ import annotations

import re
from dataclasses import replace

from coachbox.conversation import checkin, lessons
from coachbox.conversation.effects import Enroll
from coachbox.conversation.state import with_flow
from coachbox.conversation.turn import Turn
from coachbox.learning.grading import normalise
from coachbox.learning.timeparse import find_timezone, parse_lesson_time

MAX_NAME = 40


def start(turn: Turn, said: str) -> None:
    """The very first message: greet in the language of the greeting when a locale knows it ('habari')."""
    greeting = normalise(said)
    for code in turn.texts.languages:
        if code != turn.lang and greeting in {
            normalise(w) for w in turn.texts.locales[code].get("keywords.greetings", [])
        }:
            turn.update(language=code)
            break
    turn.say("onboarding.welcome")
    ask_name(turn)


def ask_name(turn: Turn) -> None:
    turn.state = with_flow(turn.state, "onboarding_name")
    if turn.learner.profile_name:
        turn.append("onboarding.confirm_name", profile=turn.learner.profile_name)
    else:
        turn.append("onboarding.ask_name")


def step(turn: Turn, said: str) -> None:
    {
        "onboarding_name": _name,
        "onboarding_language": _language,
        "onboarding_course": _course,
        "onboarding_time": _time,
    }[turn.state.flow](turn, said)


def reprompt(turn: Turn) -> None:
    """Ask the current onboarding question again (after HELP, or a command that must wait)."""
    flow = turn.state.flow
    if flow == "onboarding_name":
        ask_name(turn)
    elif flow == "onboarding_language":
        ask_language(turn)
    elif flow == "onboarding_course":
        ask_course(turn)
    else:
        ask_time(turn)


def _clean_name(said: str) -> str | None:
    name = re.sub(r"\s+", " ", said).strip(" .,!?*_~\"'")
    for prefix in ("my name is ", "i am ", "i'm ", "call me ", "naitwa ", "jina langu ni ", "mimi ni "):
        if name.lower().startswith(prefix):
            name = name[len(prefix) :].strip()
    if not name or len(name) > MAX_NAME or not any(ch.isalpha() for ch in name):
        return None
    return " ".join(part[:1].upper() + part[1:] for part in name.split(" "))


def _name(turn: Turn, said: str) -> None:
    name: str | None
    if turn.learner.profile_name and turn.texts.is_word(turn.lang, "no", normalise(said)):
        # "No" to "Shall I call you X?" refuses the profile name; it is not a name ("No" was saved before).
        turn.say("onboarding.ask_name")
        return
    if turn.learner.profile_name and turn.texts.is_word(turn.lang, "yes", normalise(said)):
        name = _clean_name(turn.learner.profile_name) or turn.learner.profile_name[:MAX_NAME]
    else:
        name = _clean_name(said)
    if name is None:
        turn.state = replace(turn.state, unclear=turn.state.unclear + 1)
        turn.say("onboarding.name_unclear", max=MAX_NAME)
        return
    turn.update(name=name)
    turn.say("onboarding.nice_to_meet", name=name.split(" ")[0])
    if len(turn.texts.languages) > 1:
        ask_language(turn)
    else:
        ask_course(turn)


def language_menu(turn: Turn) -> tuple[str, tuple[str, ...]]:
    codes = turn.texts.languages
    lines = "\n".join(f"{i}. {turn.texts.language_name(code)}" for i, code in enumerate(codes, start=1))
    return lines, tuple(turn.texts.language_name(code) for code in codes)


def pick_language(turn: Turn, said: str) -> str | None:
    """A language code from a number, a code ('sw') or a name ('Kiswahili', 'swahili')."""
    codes = turn.texts.languages
    answer = normalise(said)
    if answer.isdigit() and 1 <= int(answer) <= len(codes):
        return codes[int(answer) - 1]
    for code in codes:
        names = {normalise(code), normalise(turn.texts.language_name(code))}
        names.update(normalise(w) for w in turn.texts.locales[code].get("meta.aliases", []))
        if answer in names:
            return code
    return None


def ask_language(turn: Turn) -> None:
    turn.state = with_flow(turn.state, "onboarding_language")
    menu, options = language_menu(turn)
    turn.append("onboarding.ask_language", menu=menu)
    turn.replies[-1] = replace(turn.replies[-1], options=options)


def _language(turn: Turn, said: str) -> None:
    code = pick_language(turn, said)
    if code is None:
        turn.state = with_flow(turn.state, "onboarding_language", unclear=turn.state.unclear + 1)
        menu, _ = language_menu(turn)
        turn.say("onboarding.language_unclear", menu=menu)
        return
    turn.update(language=code)
    turn.say("onboarding.language_set", language=turn.texts.language_name(code))
    ask_course(turn)


def ask_course(turn: Turn) -> None:
    offered = turn.courses_offered()
    if not offered:
        turn.update(status="active")
        turn.state = with_flow(turn.state, "idle")
        turn.append("onboarding.no_courses")
        return
    turn.state = with_flow(turn.state, "onboarding_course", options=tuple(c.id for c in offered))
    turn.append("onboarding.ask_course", menu=lessons.course_menu(turn, offered))
    # The numbers as options, as the course menu after onboarding has them: WhatsApp shows them as a list to tap.
    turn.replies[-1] = replace(turn.replies[-1], options=tuple(str(n) for n in range(1, len(offered) + 1)))


def _course(turn: Turn, said: str) -> None:
    course = lessons.pick_course(turn, said)
    if course is None:
        turn.state = with_flow(turn.state, "onboarding_course", unclear=turn.state.unclear + 1)
        turn.say("onboarding.course_unclear", count=len(turn.state.options))
        return
    turn.do(Enroll(course.db_id))
    lessons.note_enrollment(turn, course.db_id)
    turn.update(current_course_id=course.id)
    turn.say("onboarding.course_set", course=course.title, lessons=len(course.lessons))
    ask_time(turn)


def ask_time(turn: Turn) -> None:
    turn.state = with_flow(turn.state, "onboarding_time")
    turn.append("onboarding.ask_time", time=turn.learner.lesson_time, timezone=turn.learner.timezone)


def _time(turn: Turn, said: str) -> None:
    answer = normalise(said)
    zone = find_timezone(said)
    chosen: str | None
    if zone:
        turn.update(timezone=zone)
        turn.say("time.zone_set", timezone=zone)
        turn.append("onboarding.ask_time", time=turn.learner.lesson_time, timezone=zone)
        return
    if turn.texts.is_word(turn.lang, "yes", answer) or turn.texts.is_word(turn.lang, "ok", answer):
        chosen = turn.learner.lesson_time
    else:
        chosen = parse_lesson_time(said)
    if chosen is None:
        turn.state = with_flow(turn.state, "onboarding_time", unclear=turn.state.unclear + 1)
        turn.say("time.unclear")
        return
    turn.update(lesson_time=chosen, status="active")
    turn.state = with_flow(turn.state, "idle")
    if checkin.due_before(turn):  # the course's check-in first; lesson 1 follows it
        turn.say("checkin.all_set", time=chosen, timezone=turn.learner.timezone)
        checkin.start_before(turn)
        return
    turn.say("onboarding.done", time=chosen, timezone=turn.learner.timezone)
    lessons.deliver_next(turn, kind="first_lesson")
