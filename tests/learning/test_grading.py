"""Quiz grading: letters, numbers, choice text, true/false in two languages, typos, unclear answers."""

import pytest

from coachbox.learning.course import Question
from coachbox.learning.grading import damerau_levenshtein, grade, normalise

CHOICE = Question(1, "choice", "Where?", "", choices=("Inside the SIM", "With the provider", "At the agent"), answer=2)
TF = Question(2, "true_false", "Stranger can send?", "", answer=False)
SHORT = Question(3, "short", "What protects it?", "", answer=("PIN", "M-PESA PIN", "password"))
TRUE = ["true", "yes", "kweli", "ni kweli", "ndiyo"]
FALSE = ["false", "no", "si kweli", "uongo", "hapana"]


def verdict(question, text):
    return grade(question, text, true_words=TRUE, false_words=FALSE).verdict


@pytest.mark.parametrize(
    "text",
    ["b", "B", " b) ", "(b)", "2", "2.", "option b", "with the provider", "With  the PROVIDER!", "with the providr"],
)
def test_it_accepts_a_choice_by_letter_number_or_text(text):
    assert verdict(CHOICE, text) == "correct"


@pytest.mark.parametrize("text", ["a", "1", "inside the sim", "C"])
def test_it_marks_other_choices_wrong(text):
    assert verdict(CHOICE, text) == "wrong"


@pytest.mark.parametrize("text", ["", "d", "7", "maybe", "🤔", "the shop on the corner"])
def test_it_never_marks_an_unclear_choice_wrong(text):
    assert verdict(CHOICE, text) == "unclear"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("false", "correct"),
        ("FALSE", "correct"),
        ("si kweli", "correct"),
        ("uongo", "correct"),
        ("hapana", "correct"),
        ("No.", "correct"),
        ("kweli", "wrong"),
        ("Ndiyo", "wrong"),
        ("yes", "wrong"),
        ("ni kweli", "wrong"),
        ("dunno", "unclear"),
    ],
)
def test_it_grades_true_false_in_both_languages(text, expected):
    assert verdict(TF, text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("pin", "correct"),
        ("PIN!", "correct"),
        ("pim", "correct"),
        ("mpesa pin", "correct"),
        ("pasword", "correct"),
        ("paswrod", "correct"),
        ("passage", "wrong"),
        ("phone", "wrong"),
        ("", "unclear"),
    ],
)
def test_it_tolerates_small_typos_in_short_answers(text, expected):
    assert verdict(SHORT, text) == expected


def test_it_counts_a_swap_as_one_edit():
    assert damerau_levenshtein("pin", "ipn") == 1
    assert damerau_levenshtein("kitten", "sitting") == 3


def test_it_normalises_accents_case_and_punctuation():
    assert normalise("  Ndiyó!! ") == "ndiyo"
