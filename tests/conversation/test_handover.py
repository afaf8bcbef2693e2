"""Talking to a person (handover), on the pure engine: TEACHER, the bot paused, acks, STOP, quizzes, both languages."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coachbox.conversation import effects as fx
from coachbox.conversation.engine import handle
from coachbox.conversation.events import DeliverDailyLesson, Message
from coachbox.conversation.handover import words_match
from coachbox.conversation.state import State
from coachbox.conversation.texts import Texts
from coachbox.conversation.turn import Rules
from coachbox.learning.learner import Enrollment, Handover, Learner
from tests.conftest import REPO
from tests.conversation.builders import catalogue

TEXTS = Texts.load(REPO / "content" / "locales")
# Nairobi is UTC+3; the default office hours are mon-fri 08:00-16:00 there.
SCHOOL_TIME = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # Monday 10:00
MONDAY_EVENING = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 18:00: tomorrow at 08:00
TUESDAY_DAWN = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday 05:00: today at 08:00
FRIDAY_EVENING = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # Friday 18:00: on Monday at 08:00
RULES = Rules(safeguarding_words=("beats me", "abused", "ananipiga", "naogopa kwenda nyumbani"))
OPEN = Handover(id=7, reason="asked", opened_at="2026-03-02T06:00:00+00:00")


def learner(language="en", handover=None, **changes):
    course = 1 if language == "en" else 2
    return Learner(
        id=1,
        name="Amina Wanjiru",
        language=language,
        status="active",
        current_course_id=course,
        enrollments=(Enrollment(course, next_position=2),),
        last_lesson_id=course * 100 + 10,
        message_count=9,
        created_at="x",
        handover=handover,
        **changes,
    )


def turn(text, who, now=SCHOOL_TIME, state=State(flow="idle"), rules=RULES):
    return handle(Message(text), state, who, catalogue(), TEXTS, now, rules)


def kinds(decision):
    return [type(e).__name__ for e in decision.effects]


@pytest.mark.parametrize(
    ("language", "word", "now", "expected"),
    [
        ("en", "TEACHER", SCHOOL_TIME, "will answer you here soon (school hours: Mon–Fri 08:00–16:00)"),
        ("en", "teacher", MONDAY_EVENING, "during school hours (Mon–Fri 08:00–16:00), so from tomorrow at 08:00"),
        ("en", "Teacher!", TUESDAY_DAWN, "so from today at 08:00"),
        ("en", "talk to a person", FRIDAY_EVENING, "so from on Monday at 08:00"),
        ("sw", "MWALIMU", SCHOOL_TIME, "hivi karibuni (saa za shule: Jumatatu–Ijumaa 08:00–16:00)"),
        ("sw", "mwalimu", MONDAY_EVENING, "zinaanza tena kesho saa 08:00"),
        ("sw", "Mwalimu", FRIDAY_EVENING, "zinaanza tena Jumatatu saa 08:00"),
        ("sw", "teacher", TUESDAY_DAWN, "zinaanza tena leo saa 08:00"),  # English keywords work in every language
    ],
)
def test_teacher_asks_for_a_person_and_says_honestly_when_one_answers(language, word, now, expected):
    decision = turn(word, learner(language), now)
    assert decision.effects == (fx.AskPerson("asked", ""),)
    assert len(decision.replies) == 1
    assert expected in decision.replies[0].text
    assert ("lessons continue" if language == "en" else "Masomo yako yanaendelea") in decision.replies[0].text


def test_teacher_with_words_after_it_keeps_them_for_the_teacher():
    decision = turn("teacher my payment failed twice", learner())
    assert decision.effects == (fx.AskPerson("asked", "my payment failed twice"),)


def test_teacher_again_while_one_is_open_says_a_teacher_has_it_already():
    decision = turn("TEACHER", learner(handover=OPEN), MONDAY_EVENING)
    assert kinds(decision) == ["AskPerson"]
    assert "already has your messages" in decision.replies[0].text
    assert "tomorrow at 08:00" in decision.replies[0].text


@pytest.mark.parametrize(("language", "line"), [("en", "*TEACHER* talk to a teacher"), ("sw", "*MWALIMU* ongea")])
def test_help_lists_the_keyword(language, line):
    assert line in turn("HELP" if language == "en" else "MSAADA", learner(language)).replies[0].text


@pytest.mark.parametrize("language", ["en", "sw"])
def test_free_text_during_a_handover_goes_to_the_teacher_not_the_bot(language):
    decision = turn("my M-PESA payment did not go through", learner(language, OPEN), MONDAY_EVENING)
    assert decision.effects == (fx.HandoverMessage("my M-PESA payment did not go through", acked=True),)
    assert len(decision.replies) == 1
    text = decision.replies[0].text
    assert ("will see this message" if language == "en" else "ataona ujumbe huu") in text
    assert ("tomorrow at 08:00" if language == "en" else "kesho saa 08:00") in text
    assert decision.state.flow == "idle"


def test_the_learner_is_acknowledged_at_most_once_an_hour():
    now = SCHOOL_TIME
    recently = replace(OPEN, acked_at=(now - timedelta(minutes=20)).isoformat())
    quiet = turn("hello? anyone there", learner(handover=recently), now)
    assert quiet.effects == (fx.HandoverMessage("hello? anyone there", acked=False),)
    assert quiet.replies == ()
    hour_ago = replace(OPEN, acked_at=(now - timedelta(minutes=60)).isoformat())
    again = turn("hello?", learner(handover=hour_ago), now)
    assert again.effects == (fx.HandoverMessage("hello?", acked=True),)
    assert "sees this message and will answer soon" in again.replies[0].text
    # Greetings and thanks are for the teacher too: the bot does not chime in.
    assert turn("thanks", learner(handover=recently), now).replies == ()


def test_a_teacher_can_let_the_bot_answer_during_a_handover():
    decision = turn("what is a PIN?", learner(handover=replace(OPEN, bot_paused=False)))
    assert kinds(decision) == ["AskTutor"]


@pytest.mark.parametrize("language", ["en", "sw"])
def test_commands_still_work_during_a_handover(language):
    progress = turn("PROGRESS" if language == "en" else "MAENDELEO", learner(language, OPEN))
    assert "HandoverMessage" not in kinds(progress)
    assert progress.replies[0].text.startswith("📊 *")
    menu = turn("HELP", learner(language, OPEN))
    assert "HandoverMessage" not in kinds(menu) and "*" in menu.replies[0].text


@pytest.mark.parametrize(("language", "word", "said"), [("en", "STOP", "unsubscribed"), ("sw", "ACHA", "ACHA")])
def test_stop_during_a_handover_closes_it_and_stops(language, word, said):
    decision = turn(word, learner(language, OPEN))
    assert kinds(decision) == ["CloseHandover", "OptOut"]
    assert decision.replies
    without = turn(word, learner(language))
    assert kinds(without) == ["OptOut"]  # no handover: nothing to close


@pytest.mark.parametrize("language", ["en", "sw"])
def test_an_answer_to_an_open_quiz_still_counts_during_a_handover(language):
    lesson_id = 110 if language == "en" else 210
    quiz = State(flow="quiz", lesson_id=lesson_id, question=0)
    decision = turn("b", learner(language, OPEN), state=quiz)
    assert "RecordAnswer" in kinds(decision)
    assert "HandoverMessage" not in kinds(decision)
    assert decision.state.flow == "quiz" and decision.state.question == 1


@pytest.mark.parametrize(
    ("language", "said"), [("en", "my uncle beats me every night"), ("sw", "baba ananipiga kila siku")]
)
def test_safeguarding_words_hand_the_message_to_a_teacher_at_once(language, said):
    decision = turn(said, learner(language))
    assert decision.effects == (fx.AskPerson("safeguarding", said),)
    text = decision.replies[0].text
    assert "116" in text and ("A teacher has been told" if language == "en" else "Mwalimu amejulishwa") in text
    asked = turn(f"ASK {said}" if language == "en" else f"ULIZA {said}", learner(language))
    assert asked.effects == (fx.AskPerson("safeguarding", said),)  # never sent to the AI tutor
    during = turn(said, learner(language, replace(OPEN, acked_at=SCHOOL_TIME.isoformat())))
    assert kinds(during) == ["AskPerson", "HandoverMessage"]  # flagged for the teacher even while one is open
    assert "116" in during.replies[0].text


def test_safeguarding_words_match_whole_words_only():
    words = ("abused", "beats me", "naogopa kwenda nyumbani")
    assert words_match(words, "I was ABUSED!") == "abused"
    assert words_match(words, "He beats  me.") == "beats me"
    assert words_match(words, "Naogopa kwenda nyumbani leo") == "naogopa kwenda nyumbani"
    assert words_match(words, "he was disabused of the idea") is None
    assert words_match(words, "she beats meat") is None
    assert kinds(turn("what does disabused mean?", learner())) == ["AskTutor"]


def test_paused_lessons_skip_the_daily_lesson_and_running_ones_do_not():
    paused = learner(handover=replace(OPEN, lessons_paused=True))
    skipped = handle(DeliverDailyLesson(), State(flow="idle"), paused, catalogue(), TEXTS, SCHOOL_TIME, RULES)
    assert skipped.replies == () and skipped.effects == ()
    running = handle(DeliverDailyLesson(), State(flow="idle"), learner(handover=OPEN), catalogue(), TEXTS, SCHOOL_TIME)
    assert kinds(running) in (["RecordDelivery"], ["HoldLesson"])  # sent, or held for a reply outside the window


def test_office_hours_are_said_in_the_learners_language():
    rules = replace(RULES, office_hours="mon-fri 08:00-16:00; sat 09:00-12:00")
    en = turn("TEACHER", learner(), SCHOOL_TIME, rules=rules).replies[0].text
    assert "Mon–Fri 08:00–16:00; Sat 09:00–12:00" in en
    sw = turn("MWALIMU", learner("sw"), FRIDAY_EVENING, rules=rules).replies[0].text
    assert "Jumatatu–Ijumaa 08:00–16:00; Jumamosi 09:00–12:00" in sw
    assert "kesho saa 09:00" in sw  # Friday evening: Saturday morning is next


def test_teacher_works_while_onboarding():
    newcomer = Learner(id=1, status="onboarding", message_count=3, created_at="x")
    decision = handle(Message("TEACHER"), State(flow="onboarding_language"), newcomer, catalogue(), TEXTS, SCHOOL_TIME)
    assert kinds(decision) == ["AskPerson"]
    assert decision.state.flow == "onboarding_language"


@pytest.mark.parametrize("language", ["en", "sw"])
def test_what_is_no_answer_to_the_open_quiz_goes_to_the_teacher(language):
    lesson_id = 110 if language == "en" else 210
    quiz = State(flow="quiz", lesson_id=lesson_id, question=0)
    said = "my payment failed, please help"
    decision = turn(said, learner(language, OPEN), MONDAY_EVENING, state=quiz)
    assert decision.effects == (fx.HandoverMessage(said, acked=True),)
    assert decision.state == quiz  # the quiz is still open, where it was
    without = turn(said, learner(language), state=quiz)  # no handover: the quiz's own "unclear" reply
    assert "HandoverMessage" not in kinds(without) and without.replies
    flagged = turn("he beats me", learner(language), state=quiz)  # a safeguarding word is never "unclear"
    assert flagged.effects == (fx.AskPerson("safeguarding", "he beats me"),)


def test_a_side_flows_question_is_answered_during_a_handover():
    asked = turn("LANGUAGE", learner(handover=OPEN))
    assert asked.state.flow == "choose_language"
    chosen = turn(
        "2", learner(handover=OPEN), state=asked.state
    )  # the number on the language menu, not for the teacher
    assert "HandoverMessage" not in kinds(chosen)
    assert any(isinstance(e, fx.UpdateLearner) and dict(e.changes).get("language") == "sw" for e in chosen.effects)
