"""Golden transcripts of the quiz in one message ([learning] quiz_style = "one_message"): a whole course in English
and Kiswahili, each lesson day's questions (review questions first) answered in one reply; compared with reviewed
files in tests/golden. Regenerate deliberately with UPDATE_GOLDEN=1 and review the diff like code."""

from __future__ import annotations

import difflib
import os
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from coachbox.conversation.events import DeliverDailyLesson
from coachbox.store.reviews import ingest_answers
from tests.conversation.conftest import Driver
from tests.conversation.test_golden import GOLDEN, SCRIPT, Walk, _held

NUMBERED = re.compile(r"^\*(\d+)\.\* (?!✅|❌)(?:🔁 )?(.+)$", re.M)


class OneMessageWalk(Walk):
    """A Walk that keeps what the bot said last (the numbered questions to answer)."""

    last: list[str] = []

    def _bot(self, bodies: list[str]) -> None:
        self.last = bodies
        super()._bot(bodies)


def _reply(
    walk: OneMessageWalk,
    driver: Driver,
    *,
    wrong: set[int] = frozenset(),
    only: set[int] | None = None,
    listing: list[str] | None = None,
) -> str:
    """One reply to the numbered questions the bot asked last (or in `listing`): "1b 2 true 3 pin" (these numbers
    wrong, only these numbers)."""
    text = "\n\n".join(walk.last if listing is None else listing)
    prompts = {q.prompt: q for c in driver.catalogue.courses for lesson in c.lessons for q in lesson.questions}
    parts = []
    seen: dict[str, str] = {}
    for number, prompt in NUMBERED.findall(text):
        seen[number] = prompt  # the latest listing of each number wins
    for number, prompt in seen.items():
        if only is not None and int(number) not in only:
            continue
        question = prompts[prompt.strip()]
        given = walk.answer(question, right=int(number) not in wrong)
        parts.append(f"{number}{given}" if len(given) == 1 else f"{number} {given}")
    return " ".join(parts)


def walkthrough(driver: Driver, language: str) -> str:
    words = SCRIPT[language]
    walk = OneMessageWalk(driver, words)
    clock = driver.clock
    for said in (words["greeting"], words["yes"], words["language"], "1", "7"):
        walk.say(said)
    course = driver.catalogue.course(driver.learner()["current_course_id"])
    for number in range(1, len(course.lessons) + 1):
        if number > 1:
            morning = clock.now().astimezone(ZoneInfo("Africa/Nairobi")).replace(hour=7, minute=0)
            clock.set(morning + timedelta(days=1))
            walk.event(DeliverDailyLesson(), "daily lesson time")
            if _held(driver):  # outside the 24-hour window: the nudge; the learner's reply brings the lesson
                clock.advance(minutes=10)
                walk.say(words["ok"])
        clock.advance(minutes=5)
        if number == 1:
            listing = walk.last
            walk.say(words["unclear"])  # not answers: the form, once, with an example
            walk.say(_reply(walk, driver, only={2}, listing=listing))  # a partial reply: graded, the rest asked again
            walk.say(_reply(walk, driver))
        elif number == 3:  # 1 of 3 is below the pass mark: the retry asks only the 2 missed, in one message
            walk.say(_reply(walk, driver, wrong=_lesson_numbers(walk, 2)))
            walk.say(words["quiz"])
            walk.say(_reply(walk, driver))
        else:
            walk.say(_reply(walk, driver, wrong=_lesson_numbers(walk, 1) if number == 5 else set()))
        ingest_answers(driver.conn, clock.now())  # the worker's review job
        if number == 2:
            walk.say(words["ask"])
    walk.say(words["progress"])
    walk.say(words["certificate"])
    return "\n".join(walk.lines).rstrip() + "\n"


def _lesson_numbers(walk: OneMessageWalk, count: int) -> set[int]:
    """The first `count` numbers of today's lesson questions (after the review questions) on screen."""
    text = "\n\n".join(walk.last)
    reviews = len(re.findall(r"^\*\d+\.\* 🔁", text, re.M))
    return set(range(reviews + 1, reviews + 1 + count))


@pytest.mark.parametrize("language", ["en", "sw"])
def test_it_matches_the_golden_transcript_of_the_quiz_in_one_message(driver, language):
    driver.settings = driver.settings.replace(learning={"quiz_style": "one_message"})
    driver.res = type(driver.res).build(driver.settings)
    produced = walkthrough(driver, language)
    path = GOLDEN / f"{language}_one_message.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(produced, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if produced != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), produced.splitlines(True), fromfile=str(path), tofile="produced"
            )
        )
        pytest.fail(f"transcript changed (UPDATE_GOLDEN=1 to accept after review):\n{diff}")
