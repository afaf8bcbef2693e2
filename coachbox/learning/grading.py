"""Quiz grading: choices by letter, number or text; true/false in any language; short answers with typo tolerance."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from coachbox.learning.course import Question

Verdict = Literal["correct", "wrong", "unclear"]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# "b)", "(b)", "b.", "option b", "2." — learners decorate their letters in many ways.
_CHOICE_TOKEN = re.compile(r"^(?:option|answer|jibu|chaguo)?\s*\(?([a-z]|\d{1,2})[).:]?$")


@dataclass(frozen=True)
class Grade:
    verdict: Verdict
    given: str  # the learner's answer as understood (normalised), stored with the answer row


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation at the ends, single spaces: 'Ndiyó! ' → 'ndiyo'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = re.sub(r"[\s\u200b\ufe0f]+", " ", plain.casefold())
    return plain.strip(" \t.,!?;:'\"()[]-_*~`").strip()


def _squash(text: str) -> str:
    """Letters and digits only, for comparing 'M-PESA pin' with 'mpesa pin'."""
    return re.sub(r"[^0-9a-z]", "", normalise(text))


def damerau_levenshtein(a: str, b: str, limit: int = 3) -> int:
    """Optimal string alignment distance (adjacent swaps count once); stops early above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def typo_budget(expected: str) -> int:
    """How many typos an answer of this length may have: 1 up to 6 characters, 2 above (0 for 1-2 chars)."""
    if len(expected) <= 2:
        return 0
    return 1 if len(expected) <= 6 else 2


def grade(question: Question, text: str, *, true_words: Iterable[str], false_words: Iterable[str]) -> Grade:
    """Grade one answer. 'unclear' means we could not tell what was meant: re-prompt, never mark it wrong."""
    said = normalise(text)
    if not said:
        return Grade("unclear", "")
    if question.kind == "choice":
        return _grade_choice(question, said)
    if question.kind == "true_false":
        return _grade_true_false(question, said, true_words, false_words)
    return _grade_short(question, said)


def _grade_choice(question: Question, said: str) -> Grade:
    count = len(question.choices)
    picked: int | None = None
    match = _CHOICE_TOKEN.match(said)
    if match:
        token = match.group(1)
        if token.isdigit():
            picked = int(token) if 1 <= int(token) <= count else None
        elif _LETTERS.index(token) < count:
            picked = _LETTERS.index(token) + 1
    if picked is None:
        squashed = _squash(said)
        texts = [_squash(choice) for choice in question.choices]
        exact = [i + 1 for i, choice in enumerate(texts) if choice and choice == squashed]
        if not exact and len(squashed) >= 4:
            exact = [
                i + 1 for i, choice in enumerate(texts) if damerau_levenshtein(squashed, choice) <= typo_budget(choice)
            ]
        picked = exact[0] if len(exact) == 1 else None
    if picked is None:
        return Grade("unclear", said)
    return Grade("correct" if picked == question.answer else "wrong", _LETTERS[picked - 1].upper())


def _grade_true_false(question: Question, said: str, true_words: Iterable[str], false_words: Iterable[str]) -> Grade:
    trues = {normalise(w) for w in true_words}
    falses = {normalise(w) for w in false_words}
    # "si kweli" contains "kweli": check the longer phrases first, so negations win.
    if said in falses or said in trues:
        value = said in trues and said not in falses
    else:
        first = said.split(" ")[0]
        if first in falses and first not in trues:
            value = False
        elif first in trues and first not in falses:
            value = True
        else:
            return Grade("unclear", said)
    return Grade("correct" if value == bool(question.answer) else "wrong", "true" if value else "false")


def _grade_short(question: Question, said: str) -> Grade:
    accepted = question.answer if isinstance(question.answer, tuple) else (str(question.answer),)
    squashed = _squash(said)
    if not squashed:
        return Grade("unclear", said)
    for answer in accepted:
        target = _squash(answer)
        if target and damerau_levenshtein(squashed, target) <= typo_budget(target):
            return Grade("correct", said)
    return Grade("wrong", said)
