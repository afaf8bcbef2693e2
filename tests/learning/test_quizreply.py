"""Reading a whole quiz answered in one message (learning.quizreply): numbered or in order, any sensible form."""

from __future__ import annotations

import pytest

from coachbox.learning.course import Question
from coachbox.learning.quizreply import read_answers

CHOICE = Question(1, "choice", "Where is it kept?", "", ("SIM", "provider", "agent"), 2)
TRUE_FALSE = Question(2, "true_false", "A stranger can send it.", "", (), False)
SHORT = Question(3, "short", "What protects it?", "", (), ("PIN", "mpesa pin"))
CHOICE_2 = Question(4, "choice", "Safest step?", "", ("obey", "hang up", "send ID"), 2)
TRUES = ("true", "yes", "kweli", "ndiyo")
FALSES = ("false", "no", "si kweli", "uongo", "hapana")
QUIZ = [(1, CHOICE), (2, TRUE_FALSE), (3, SHORT)]


def read(text, questions=QUIZ, total=None):
    reading = read_answers(text, questions, total=total or len(questions), true_words=TRUES, false_words=FALSES)
    return [(n, g.verdict, g.given) for n, g in reading.graded], list(reading.unreadable)


ALL_RIGHT = ([(1, "correct", "B"), (2, "correct", "false"), (3, "correct", "pin")], [])


@pytest.mark.parametrize(
    "text",
    [
        "1B 2 false 3 pin",
        "1b 2false 3pin",
        "1. B 2. False 3. PIN",
        "1) b 2) false 3) pin",
        "1-b, 2-false, 3-pin",
        "3 pin 1 b 2 false",
        "1️⃣ b 2️⃣ false 3️⃣ pin",
        "1. b\n2. false\n3. pin",
        "b\nfalse\npin",
        "B false PIN",
        "b, false, pin",
        "1 2 2 false 3 pin",  # question 1: choice 2
    ],
)
def test_it_reads_every_sensible_form(text):
    assert read(text) == ALL_RIGHT


def test_it_reads_kiswahili_and_multi_word_answers():
    assert read("1 b 2 si kweli 3 mpesa pin") == (
        [(1, "correct", "B"), (2, "correct", "false"), (3, "correct", "mpesa pin")],
        [],
    )
    assert read("b si kweli mpesa pin") == read("1 b 2 si kweli 3 mpesa pin")
    assert read("b, uongo, PIN")[0][1] == (2, "correct", "false")


def test_choice_only_quizzes_take_a_string_of_letters_or_of_numbers():
    quiz = [(1, CHOICE), (2, CHOICE_2)]
    right = ([(1, "correct", "B"), (2, "correct", "B")], [])
    assert read("BB", quiz) == read("b b", quiz) == read("2 2", quiz) == read("1b 2b", quiz) == right
    assert read("1 2 2 2", quiz) == right  # numbered: question 1 choice 2, question 2 choice 2
    assert read("DD", quiz) == ([], [])  # no such choice: not letters for these questions


def test_a_partial_reply_answers_only_what_it_names_or_the_first_ones_in_order():
    assert read("2 false") == ([(2, "correct", "false")], [])
    assert read("b") == ([(1, "correct", "B")], [])
    assert read("b false") == ([(1, "correct", "B"), (2, "correct", "false")], [])
    # Questions already answered are not open; their numbers are passed over, the rest graded.
    assert read("1a 2 false 3 pin", [(2, TRUE_FALSE), (3, SHORT)], total=3) == (
        [(2, "correct", "false"), (3, "correct", "pin")],
        [],
    )
    assert read("1b 2 false 3 pin", [(1, CHOICE), (2, TRUE_FALSE)], total=2)[0][:2] == [
        (1, "correct", "B"),
        (2, "correct", "false"),
    ]  # "3 pin" after a two-question retry: no such question on screen


def test_an_answer_it_cannot_read_is_named_never_marked():
    assert read("1b 2 maybe 3 pin") == ([(1, "correct", "B"), (3, "correct", "pin")], [2])
    assert read("1 z 2 false") == ([(2, "correct", "false")], [1])


@pytest.mark.parametrize("text", ["hello there friend", "I am not sure", "xyz", "", "   ", "ok thanks"])
def test_what_is_no_answer_at_all_reads_as_nothing(text):
    assert read(text)[0] == []


def test_the_last_open_question_takes_the_whole_reply():
    assert read("no idea at all", [(3, SHORT)]) == ([(3, "wrong", "no idea at all")], [])
    assert read("3. PIN", [(3, SHORT)], total=3) == ([(3, "correct", "pin")], [])
    assert read("2", [(1, CHOICE)]) == ([(1, "correct", "B")], [])  # choice 2, not a question number
