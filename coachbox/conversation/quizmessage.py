"""The quiz in one message: the numbered questions of a lesson day (due reviews first), their how-to and example."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coachbox.conversation.state import State
from coachbox.conversation.turn import Turn
from coachbox.learning.course import Catalogue, Question

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Item:
    """One numbered question on screen: its number (1-based), the question, and whether it is a review."""

    number: int
    question: Question
    review: bool = False


def find_questions(catalogue: Catalogue, ids: Sequence[int]) -> tuple[Question, ...]:
    """Questions by id, in the order given; one no longer in the catalogue is passed over."""
    wanted = set(ids)
    if not wanted:
        return ()
    found: dict[int, Question] = {}
    for course in catalogue.courses:
        for lesson in course.lessons:
            for question in lesson.questions:
                if question.id in wanted:
                    found[question.id] = question
    return tuple(found[i] for i in ids if i in found)


def items(catalogue: Catalogue, state: State, questions: Sequence[Question]) -> list[Item]:
    """Everything numbered on screen: the review questions first, then this attempt's quiz questions."""
    reviews = find_questions(catalogue, state.reviews)
    out = [Item(n, q, True) for n, q in enumerate(reviews, start=1)]
    return out + [Item(len(out) + n, q) for n, q in enumerate(questions, start=1)]


def answered(state: State, numbered: Sequence[Item]) -> tuple[int, ...]:
    """The numbers answered so far. A state without `given` (rebuilt from the database after a lost session, or
    begun one question at a time) answered the first quiz questions in order."""
    if state.given:
        return state.given
    quiz = [item.number for item in numbered if not item.review]
    return tuple(quiz[: len(state.answers)])


def marks(state: State, numbered: Sequence[Item]) -> dict[int, bool]:
    """Quiz question number → right or wrong, for those answered (state.answers, in the order given)."""
    quiz = {item.number for item in numbered if not item.review}
    return dict(zip([n for n in answered(state, numbered) if n in quiz], state.answers))


def block(turn: Turn, numbered: Sequence[Item]) -> str:
    """The numbered questions as one text, choices on lines of their own."""
    parts = []
    for item in numbered:
        question = item.question
        key = "quiz.batch_review_item" if item.review else "quiz.batch_item"
        text = turn.t(key, number=item.number, prompt=question.prompt)
        if question.kind == "choice":
            text += "\n" + "\n".join(f"*{letter}* {choice}" for letter, choice in zip(LETTERS, question.choices))
        elif question.kind == "true_false":
            text += "\n" + turn.t(
                "quiz.batch_true_false", true=turn.t("quiz.true_word"), false=turn.t("quiz.false_word")
            )
        else:
            text += "\n" + turn.t("quiz.batch_short")
        parts.append(text)
    return "\n\n".join(parts)


def example(turn: Turn, numbered: Sequence[Item]) -> str:
    """How a reply to these questions looks ("1A 2B 3 TRUE"): the form, never the answers (letters in turn)."""
    words = []
    for index, item in enumerate(numbered):
        question = item.question
        if question.kind == "choice" and question.choices:
            words.append(f"{item.number}{LETTERS[index % len(question.choices)]}")
        elif question.kind == "true_false":
            word = turn.t("quiz.true_word") if index % 2 == 0 else turn.t("quiz.false_word")
            words.append(f"{item.number} {word.lower()}")
        else:
            words.append(f"{item.number} …")
    return " ".join(words)


def numbers_text(turn: Turn, numbers: Sequence[int]) -> str:
    """(2, 3, 5) → "2, 3 and 5" in the learner's language."""
    names = [str(n) for n in numbers]
    if len(names) <= 1:
        return "".join(names)
    return turn.t("quiz.batch_and", first=", ".join(names[:-1]), last=names[-1])
