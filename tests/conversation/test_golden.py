"""Golden transcripts: a whole course in English and in Kiswahili, compared with reviewed files in tests/golden.

Regenerate deliberately with UPDATE_GOLDEN=1 and review the diff like code."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coachbox.conversation.events import DeliverDailyLesson
from coachbox.store.reviews import due_reviews, ingest_answers
from tests.conversation.conftest import Driver

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
SCRIPT = {
    "en": {
        "yes": "yes",
        "language": "1",
        "quiz": "quiz",
        "progress": "progress",
        "stop": "stop",
        "start": "start",
        "certificate": "certificate",
        "unclear": "maybe",
        "true": "true",
        "false": "false",
        "greeting": "hi",
        "ask": "ask is Airtel Money safe too?",
        "next": "next",
        "thanks": "thank you!",
        "ok": "ok",
    },
    "sw": {
        "yes": "ndiyo",
        "language": "2",
        "quiz": "jaribio",
        "progress": "maendeleo",
        "stop": "acha",
        "start": "anza",
        "certificate": "cheti",
        "unclear": "sijui",
        "true": "kweli",
        "false": "si kweli",
        "greeting": "habari",
        "ask": "uliza je Airtel Money ni salama pia?",
        "next": "endelea",
        "thanks": "asante sana",
        "ok": "sawa",
    },
}


class Walk:
    def __init__(self, driver: Driver, words: dict):
        self.driver, self.words, self.lines = driver, words, []

    def stamp(self) -> str:
        return self.driver.clock.now().astimezone(ZoneInfo("Africa/Nairobi")).strftime("%a %H:%M")

    def say(self, text: str) -> None:
        self.lines.append(f"[{self.stamp()}] learner: {text}")
        self._bot(self.driver.say(text))

    def event(self, event, label: str) -> None:
        self.lines.append(f"[{self.stamp()}] ({label})")
        self._bot(self.driver.event(event))

    def _bot(self, bodies: list[str]) -> None:
        for body in bodies:
            self.lines.append("  bot: " + body.replace("\n", "\n       "))
        self.lines.append("")

    def answer(self, question, *, right: bool) -> str:
        if question.kind == "choice":
            index = question.answer if right else (question.answer % len(question.choices)) + 1
            return "ABCDEFG"[index - 1].lower()
        if question.kind == "true_false":
            return self.words["true" if question.answer == right else "false"]
        return question.answer[0] if right else "sijui kabisa"


def walkthrough(driver: Driver, language: str) -> str:
    words = SCRIPT[language]
    walk = Walk(driver, words)
    clock = driver.clock
    walk.say(words["greeting"])
    walk.say(words["yes"])
    walk.say(words["language"])
    walk.say("1")
    walk.say("7")
    course = driver.catalogue.course(driver.learner()["current_course_id"])
    for number, lesson in enumerate(course.lessons, start=1):
        if number > 1:
            # The next morning, 07:00 Nairobi: the scheduler's daily lesson.
            clock.set(
                clock.now()
                .astimezone(ZoneInfo("Africa/Nairobi"))
                .replace(hour=7, minute=0)
                .__add__(__import__("datetime").timedelta(days=1))
            )
            walk.event(DeliverDailyLesson(), "daily lesson time")
            if _held(driver):  # outside the 24-hour window: only the nudge; the learner's reply brings the lesson
                clock.advance(minutes=10)
                if number == 2:
                    walk.say(words["progress"])  # a command answers, and the lesson still waits
                walk.say(words["ok"])
            # Questions got wrong before come back first (spaced repetition); the first ever is missed again.
            for review_index, question in enumerate(_due_reviews(driver)):
                walk.say(walk.answer(question, right=number != 4 or review_index != 0))
        clock.advance(minutes=5)  # lean days: the lesson's last message asks the first question, no QUIZ needed
        for index, question in enumerate(lesson.questions):
            if number == 1 and index == 1:
                walk.say(words["unclear"])  # an unclear answer: a gentle re-prompt, no mark
            wrong = (number == 3 and index in (0, 1)) or (number == 5 and index == 2)
            walk.say(walk.answer(question, right=not wrong))
        if number == 3:  # 2 of 4 is below the pass mark (3 of 4): the retry asks only the 2 missed
            walk.say(words["quiz"])
            for question in lesson.questions[:2]:
                walk.say(walk.answer(question, right=True))
        ingest_answers(driver.conn, clock.now())  # the worker's review job (every 10 minutes)
        if number == 1:
            walk.say(words["progress"])
            walk.say(words["ask"])
            walk.say(words["thanks"])
        if number == 4:
            walk.say(words["stop"])
            walk.say(words["next"])
            walk.say(words["start"])
    walk.say(words["progress"])
    walk.say(words["certificate"])
    return "\n".join(walk.lines).rstrip() + "\n"


def _held(driver: Driver) -> bool:
    return (
        driver.conn.execute(
            "SELECT 1 FROM deliveries WHERE learner_id = ? AND kind = 'held_lesson' AND status = 'pending'",
            (driver.learner_id,),
        ).fetchone()
        is not None
    )


def _due_reviews(driver: Driver):
    learner = driver.learner()
    review = due_reviews(
        driver.conn, {learner["id"]: learner["timezone"]}, driver.clock.now(), driver.settings.schedule.review_per_day
    ).get(learner["id"])
    questions = {q.id: q for c in driver.catalogue.courses for lesson in c.lessons for q in lesson.questions}
    return [questions[i] for i in review.due] if review and review.open_since else []


@pytest.mark.parametrize("language", ["en", "sw"])
def test_it_matches_the_golden_transcript(driver, language):
    produced = walkthrough(driver, language)
    path = GOLDEN / f"{language}_walkthrough.txt"
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
