"""A whole quiz answered in one message: "1A 2C 3 true", "A C true", "ACB", one answer a line, emoji digits…"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coachbox.learning.course import Question
from coachbox.learning.grading import Grade, grade, normalise

# 1️⃣ is "1" + U+FE0F + U+20E3 (keycap); 🔟 is ten. Both become plain digits before anything else is read.
_KEYCAP = re.compile(r"([0-9])\ufe0f?\u20e3")
_LABEL = re.compile(r"^(\d{1,2})(?:[.):=\-/]+|(?=[^\d]))(.*)$")  # "1a", "1.", "1)b", "2-true", "3:"
_STRONG = re.compile(r"^(\d{1,2})[.):=\-/]+$")  # "1." "2)": a label whatever follows
_SEPARATORS = re.compile(r"[,;|]+")


@dataclass(frozen=True)
class Reading:
    """What one message answered: (number, grade) for each question it answered in a way we could read, and the
    numbers it named (or reached) whose answer we could not read (asked again, never marked wrong)."""

    graded: tuple[tuple[int, Grade], ...] = ()
    unreadable: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.graded


def read_answers(
    text: str,
    open_questions: Sequence[tuple[int, Question]],
    *,
    total: int = 0,
    true_words: Iterable[str],
    false_words: Iterable[str],
) -> Reading:
    """Read a reply to the numbered questions still open, `open_questions` as (number on screen, question), of
    `total` numbered on screen.

    Numbered answers ("1A 2C 3 true", "1. b\\n2. kweli", "2️⃣ c") go to their numbers; unnumbered ones ("A C true",
    one a line, "a, si kweli, mpesa pin") to the open questions in order, a short reply like "B" to the first open
    one; "ACB" is one letter a choice question when every open question is a choice. Each answer is graded as a
    single quiz answer (learning.grading: letters, numbers, choice text, true/false in any language, typos)."""
    trues, falses = tuple(true_words), tuple(false_words)
    if not open_questions:
        return Reading()
    plain = _KEYCAP.sub(r"\1 ", text or "").replace("\U0001f51f", "10 ")
    plain = unicodedata.normalize("NFKC", plain).replace("\ufe0f", "")
    lines = [line.strip() for line in plain.splitlines() if normalise(line)]
    by_number = dict(open_questions)
    if not lines:
        return Reading()  # nothing but spaces (a photo without a caption): nothing to read
    if len(open_questions) == 1:
        number, question = open_questions[0]
        only = _strip_label(" ".join(lines), number)
        result = grade(question, only, true_words=trues, false_words=falses)
        return _reading([(number, result)])
    pairs = _numbered(lines, by_number, max(total, *by_number))
    numbered = pairs is not None
    if pairs is None:
        pairs = _in_order(lines, open_questions, trues, falses)
    if pairs is None:
        return Reading()
    found = []
    for number, answer in pairs:
        asked = by_number.get(number)
        if asked is not None:
            found.append((number, grade(asked, answer, true_words=trues, false_words=falses)))
    if not numbered and found and found[0][1].verdict == "unclear":
        return Reading()  # "hello there friend" is not three answers: nothing is graded, the format is shown
    return _reading(found)


def _reading(found: list[tuple[int, Grade]]) -> Reading:
    found = sorted(found, key=lambda pair: pair[0])
    graded = tuple((n, g) for n, g in found if g.verdict != "unclear")
    unreadable = tuple(n for n, g in found if g.verdict == "unclear")
    return Reading(graded, unreadable)


def _strip_label(text: str, number: int) -> str:
    """ "3. true" or "3 true" for the one open question, number 3: "true" (a bare "3" stays: it may be choice 3)."""
    match = _LABEL.match(text.strip())
    if match and int(match.group(1)) == number and normalise(match.group(2)):
        return match.group(2)
    return text


def _tokens(line: str) -> list[tuple[str, str]]:
    """A line as ("num", "2") label candidates and ("word", "c") answer pieces; "1a" and "2)c" are split."""
    out: list[tuple[str, str]] = []
    for piece in _SEPARATORS.sub(" ", line).split():
        strong = _STRONG.match(piece)
        if strong:
            out.append(("label", strong.group(1)))
            continue
        match = _LABEL.match(piece)
        if match and normalise(match.group(2)) and not match.group(2).isdigit():
            out += [("label", match.group(1)), ("word", match.group(2))]
        elif piece.isdigit() and len(piece) <= 2:
            out.append(("num", piece))
        elif normalise(piece):
            out.append(("word", piece))
    return out


def _numbered(lines: list[str], by_number: dict[int, Question], total: int) -> list[tuple[int, str]] | None:
    """Answers with their question numbers, or None when the reply is not written that way. A number opens an
    answer; what follows it, up to the next number, is the answer ("1 2 2 1" is question 1: 2, question 2: 1).
    Numbers 1..total are questions on screen (one already answered is passed over by the caller)."""
    tokens = [t for line in lines for t in (*_tokens(line), ("end", ""))]
    bare = [t for t in tokens if t[0] != "end"]
    if not bare or bare[0][0] == "word":
        return None
    # "2 3 1" with three choice questions open: choices by number, in order, not numbered answers.
    if all(kind == "num" for kind, _ in bare) and len(bare) == len(by_number):
        return None
    pairs: list[tuple[int, str]] = []
    label: int | None = None
    answer: list[str] = []
    for kind, value in tokens:
        if label is not None and (kind == "end" or (kind in ("label", "num") and answer)):
            pairs.append((label, " ".join(answer)))
            label, answer = None, []
        if kind == "end":
            continue
        if label is None:
            if kind == "word":
                return None  # an answer without its number in a numbered reply: not sure where it belongs
            label = int(value)
        else:
            answer.append(value)
    numbers = [n for n, _ in pairs]
    if not any(1 <= n <= total for n in numbers) or len(set(numbers)) != len(numbers):
        return None  # no number a question has on screen, or one twice: not numbered answers
    return [(n, a) for n, a in pairs if 1 <= n <= total]  # "3 333" after a 2-question retry: passed over


def _in_order(
    lines: list[str], open_questions: Sequence[tuple[int, Question]], trues: tuple[str, ...], falses: tuple[str, ...]
) -> list[tuple[int, str]] | None:
    """Unnumbered answers, given to the open questions in order; None when we cannot tell where one ends."""
    answers: list[str] | None
    if len(lines) > 1:
        answers = [_strip_any_label(line) for line in lines]
    elif _SEPARATORS.search(lines[0]):
        answers = [a.strip() for a in _SEPARATORS.split(lines[0]) if normalise(a)]
    else:
        answers = _split_words(lines[0], [q for _, q in open_questions], trues, falses)
    if answers is None:
        return None
    if len(answers) > len(open_questions):
        return None
    return [(number, answer) for (number, _), answer in zip(open_questions, answers)]


def _strip_any_label(line: str) -> str:
    match = _LABEL.match(line.strip())
    return match.group(2) if match and normalise(match.group(2)) else line


def _split_words(
    line: str, questions: list[Question], trues: tuple[str, ...], falses: tuple[str, ...]
) -> list[str] | None:
    """One line, no commas: "A C true", "b si kweli a", or "ACB" when every question is a choice."""
    words = line.split()
    squashed = normalise(line).replace(" ", "")
    if (
        all(q.kind == "choice" for q in questions)
        and 1 < len(squashed) <= len(questions)
        and squashed.isalpha()
        and all(ord(ch) - ord("a") < len(q.choices) for ch, q in zip(squashed, questions))
    ):
        return list(squashed)  # "ACB"
    phrases = sorted({normalise(w) for w in (*trues, *falses) if " " in normalise(w)}, key=len, reverse=True)
    answers: list[str] = []
    index = 0
    while index < len(words):
        question = questions[len(answers)] if len(answers) < len(questions) else None
        taken = 1
        if question is not None and question.kind == "true_false":
            for phrase in phrases:
                size = len(phrase.split())
                if normalise(" ".join(words[index : index + size])) == phrase:
                    taken = size
                    break
        if question is not None and question.kind == "short" and len(answers) == len(questions) - 1:
            taken = len(words) - index  # the last open question takes the rest ("mpesa pin")
        answers.append(" ".join(words[index : index + taken]))
        index += taken
    return answers
