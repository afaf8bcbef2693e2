"""The emergency pre-check and the word limit: pure functions."""

from __future__ import annotations

import pytest

from coachbox.tutor.prompt import build_messages, emergency_kind, trim_words


@pytest.mark.parametrize(
    "question",
    [
        "I sent money to the wrong number, what do I do?",
        "How do I spot a fraud call?",
        "Is a loan app a trap?",
        "What does return do in a function?",
        "My PIN was seen by someone at the agent",
        "Nimetuma pesa kwa nambari isiyo sahihi",
    ],
)
def test_it_does_not_mistake_course_questions_for_emergencies(question):
    assert emergency_kind(question) is None


@pytest.mark.parametrize(
    "question, kind",
    [
        ("I can’t breathe and have chest pain", "medical"),
        ("my sister took an OVERDOSE", "medical"),
        ("I have a court case tomorrow and need a lawyer", "legal"),
        ("my account was hacked and my savings were stolen", "financial"),
        ("Pesa zangu zimeibiwa!", "financial"),
    ],
)
def test_it_spots_emergencies_in_english_and_kiswahili(question, kind):
    assert emergency_kind(question) == kind


def test_it_cuts_an_overlong_answer_at_a_sentence_end():
    text = "One short sentence. " * 100

    trimmed = trim_words(text, max_words=30)

    assert len(trimmed.split()) <= 30 and trimmed.endswith(".")
    assert trim_words("Short answer.") == "Short answer."


def test_it_tells_the_model_to_stick_to_the_course_without_passages():
    messages = build_messages("What is love?", [], org="Tumaini", course="", language="Kiswahili")

    assert "only help with the course" in messages[0]["content"] and "in Kiswahili" in messages[0]["content"]
    assert messages[1]["content"] == "Course passages: none matched this question."
