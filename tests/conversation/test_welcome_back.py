"""Welcome back after missed days: once per return, at the head of the reply the learner gets anyway, no blame."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coachbox.conversation.effects import UpdateLearner
from coachbox.conversation.engine import handle
from coachbox.conversation.events import Message
from coachbox.conversation.state import State
from coachbox.conversation.texts import Texts
from coachbox.learning.learner import Enrollment, Learner
from coachbox.learning.progress import LessonResult
from coachbox.learning.streaks import Streak
from tests.conftest import REPO
from tests.conversation.builders import catalogue

NOW = datetime(2026, 3, 6, 5, 0, tzinfo=UTC)  # Friday 08:00 in Nairobi
TEXTS = Texts.load(REPO / "content" / "locales")
AWAY = Learner(
    id=1,
    name="Amina",
    language="en",
    status="active",
    current_course_id=1,
    enrollments=(Enrollment(1, next_position=3),),
    results=(LessonResult(110, 1, 3, 3, True), LessonResult(120, 1, 2, 3, True)),
    badges=frozenset({"first-lesson", "perfect-quiz"}),
    streak=Streak(current=2, best=5, freezes=0, last_active_date="2026-03-03"),  # Wednesday and Thursday missed
    last_lesson_id=120,
    message_count=30,
    created_at="x",
)
SHAME = ("broke", "lost", "missed", "ended", "reset", "0 day", "umepoteza", "ulikosa")


def turn(text, learner=AWAY, state=State(flow="idle", lesson_id=120)):
    return handle(Message(text), state, learner, catalogue(), TEXTS, NOW)


def test_the_first_reply_after_missed_days_welcomes_the_learner_back_with_what_they_keep():
    alone = turn("progress", replace(AWAY, welcomed_back_on="2026-03-06"))
    decision = turn("progress")
    assert len(decision.replies) == len(alone.replies)  # no message of its own
    head = decision.replies[0].text
    assert head.startswith("👋 *Welcome back, Amina!*")
    assert "📚 Lessons finished: 2" in head and "🔥 Longest day streak: 5" in head
    assert "🏅 Badges: 🌱 First Step, 💯 Perfect Score" in head
    assert head.endswith(alone.replies[0].text)  # the PROGRESS the learner asked for follows
    assert not any(word in head.split("\n\n")[0].lower() for word in SHAME)
    assert UpdateLearner.of(welcomed_back_on="2026-03-06") in decision.effects


def test_progress_shows_the_longest_streak_and_freezes_and_never_a_bare_zero():
    lapsed = turn("progress", replace(AWAY, welcomed_back_on="2026-03-06")).replies[0].text
    assert "🔥 Longest day streak: 5 · ❄️ freezes: 0 · your next lesson starts a new streak" in lapsed
    assert "Day streak: 0" not in lapsed
    going = replace(AWAY, streak=Streak(current=3, best=5, freezes=1, last_active_date="2026-03-05"))
    assert "🔥 Day streak: 3 (longest 5) · ❄️ freezes: 1" in turn("progress", going).replies[0].text


def test_a_greeting_after_missed_days_becomes_the_welcome():
    replies = turn("hi").replies
    assert len(replies) == 1 and replies[0].text.count("👋") == 1
    assert replies[0].text.endswith("Reply *NEXT* for a lesson, *PROGRESS* for your stats, or *HELP* for the menu.")


def test_it_welcomes_in_kiswahili():
    text = turn("maendeleo", replace(AWAY, language="sw")).replies[0].text
    assert text.startswith("👋 *Karibu tena, Amina!*") and "Mfululizo wako mrefu zaidi: siku 5" in text
    assert not any(word in text.split("📊")[0].lower() for word in SHAME)


@pytest.mark.parametrize(
    "learner",
    [
        replace(AWAY, welcomed_back_on="2026-03-05"),  # welcomed yesterday, no lesson since: once per return
        replace(AWAY, streak=replace(AWAY.streak, last_active_date="2026-03-05")),  # active yesterday
        replace(AWAY, streak=replace(AWAY.streak, last_active_date="2026-03-04", freezes=1)),  # a freeze covers it
        replace(AWAY, opted_out=True),
        replace(AWAY, status="onboarding"),
    ],
    ids=["welcomed", "yesterday", "freeze", "opted-out", "onboarding"],
)
def test_it_does_not_welcome_back_when_nothing_was_missed_or_it_was_said(learner):
    decision = turn("progress", learner)
    assert "Welcome back" not in decision.replies[0].text
    assert not any(isinstance(e, UpdateLearner) for e in decision.effects)


def test_a_welcome_that_would_overflow_a_long_lesson_message_goes_in_the_next_reply():
    long = catalogue()
    money = long.courses[0]
    lesson = money.lessons[2]
    body = ("A paragraph of the lesson that runs on for a while. " * 6 + "\n\n") * 5
    lessons = (*money.lessons[:2], replace(lesson, body=body[:1450]))
    long = replace(long, courses=(replace(money, lessons=lessons), *long.courses[1:]))
    decision = handle(Message("next"), State(flow="idle", lesson_id=120), AWAY, long, TEXTS, NOW)
    assert all(len(r.text) <= 1600 for r in decision.replies)
    assert "Welcome back" not in decision.replies[0].text and "Lesson 3 of 3" in decision.replies[0].text
    assert sum("Welcome back" in r.text for r in decision.replies) == 1


def test_stop_after_missed_days_is_only_stop():
    decision = turn("stop")
    assert not any("Welcome back" in r.text for r in decision.replies)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("1", "quiz", "false", "next", "progress", "👋 *Welcome back, Amina!*", "Lesson 2 of 7")),
        ("sw", ("2", "jaribio", "si kweli", "endelea", "maendeleo", "👋 *Karibu tena, Amina!*", "Somo 2 kati ya 7")),
    ],
)
def test_it_is_said_once_per_return_on_the_real_service(driver, language, words):
    choose, quiz, false, next_, progress, welcome, lesson_2 = words
    driver.onboard(language=choose)  # lean days: the lesson asked its first question
    for answer in ("b", false, "PIN"):
        driver.say(answer)
    driver.clock.advance(days=3)
    sent = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out'").fetchone()[0]
    first = driver.say(next_)
    added = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out'").fetchone()[0] - sent
    assert added == len(first) == 1 and lesson_2 in first[0]  # the lesson and its first question, one message
    if not first[0].startswith(welcome):  # no room left in that message: the next reply says it, never a message
        assert driver.learner()["welcomed_back_on"] is None
        first = driver.say(quiz)  # "your quiz is still open": the welcome at its head
        assert first[0].startswith(welcome)
    assert driver.learner()["welcomed_back_on"] == "2026-03-05"
    again = driver.say(progress)
    assert not any(welcome in r for r in again)
    transcript = os.environ.get("TRANSCRIPTS")
    if transcript:
        Path(transcript).mkdir(parents=True, exist_ok=True)
        (Path(transcript) / f"welcome_back_{language}.txt").write_text("\n\n".join(first + again), encoding="utf-8")
