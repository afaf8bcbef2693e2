"""Find the lesson passages that best answer a question: SQLite FTS5 (bm25) over lessons_fts."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

# Words that say nothing about the topic. bm25 already discounts common words; dropping them also keeps
# the OR query small, so a chatty question does not match every lesson.
STOPWORDS = frozenset(
    """
a about after again all also am an and any are as at be because been before being but by can could did do does
doing don for from get got had has have having he her here him his how i if in into is it its just let like me
mean means more most my no not now of on one only or other our out please said say should so some such tell than
thank thanks that the their them then there these they thing this those to too up us very was we were what when
where which while who whom why will with would yes you your ok okay hi hello
na ya wa za la kwa ni nini je ili au kama hii huu hiyo hizi hilo yako yangu wangu changu kwenye katika sana pia
tu bado lakini kuhusu gani vipi nani lini wapi ndiyo hapana sasa mimi wewe yeye sisi nyinyi wao habari tafadhali
""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)
# Crude English suffix folding; the index has no stemmer (unicode61), so "saving" → "sav*" finds "save".
_SUFFIXES = ("ings", "ing", "ers", "ed", "es", "er", "s")


@dataclass(frozen=True)
class Passage:
    lesson_id: int
    lesson_slug: str
    lesson_title: str
    course_id: int
    course_slug: str
    course_title: str
    language: str
    position: int
    snippet: str  # FTS5's best window of the body, without markup added
    body: str
    score: float  # bm25: lower is better


def terms(question: str) -> list[str]:
    """The searchable words of a question, lower-cased, stopwords and one-letter words dropped, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if len(word) > 1 and word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def match_expression(question: str, *, max_terms: int = 8) -> str | None:
    """An FTS5 MATCH expression: any of the terms, each as a quoted prefix (no FTS syntax injection).

    Every term is one more posting list to merge over the whole index; a rambling question keeps its longest
    words (longer words are rarer, so they carry the topic), in their original order.
    """
    words = terms(question)
    if len(words) > max_terms:
        keep = set(sorted(words, key=len, reverse=True)[:max_terms])
        words = [w for w in words if w in keep][:max_terms]
    if not words:
        return None
    parts = []
    for word in words:
        stem = _stem(word)
        parts.append(f'"{stem}"*' if len(stem) >= 3 else f'"{stem}"')
    return " OR ".join(parts)


# Title hits count five times a body hit: a question naming a lesson's topic should land on that lesson.
_SQL = """
SELECT l.id AS lesson_id, l.slug AS lesson_slug, l.title AS lesson_title, c.id AS course_id, c.slug AS course_slug,
       c.title AS course_title, c.language AS language, l.position AS position,
       snippet(lessons_fts, 1, '', '', '…', 40) AS snippet, l.body AS body,
       bm25(lessons_fts, 5.0, 1.0) AS score
FROM lessons_fts
JOIN lessons l ON l.id = lessons_fts.rowid
JOIN courses c ON c.id = l.course_id
WHERE lessons_fts MATCH ? AND l.published = 1 AND c.published = 1 {where}
ORDER BY score
LIMIT ?
"""


def search(
    conn: sqlite3.Connection,
    question: str,
    *,
    course_id: int | None = None,
    language: str | None = None,
    limit: int = 3,
) -> list[Passage]:
    """Best passages for the question: in the learner's course when given, widening to their language, then all."""
    expression = match_expression(question)
    if expression is None:
        return []
    scopes: list[tuple[str, tuple]] = []
    if course_id is not None:
        scopes.append(("AND c.id = ?", (course_id,)))
    if language is not None:
        scopes.append(("AND c.language = ?", (language,)))
    scopes.append(("", ()))
    for where, args in scopes:
        rows = conn.execute(_SQL.format(where=where), (expression, *args, limit)).fetchall()
        if rows:
            return [Passage(**dict(row)) for row in rows]
    return []


def best_paragraphs(body: str, question: str, *, limit: int = 2, max_chars: int = 600) -> str:
    """The paragraphs of a lesson that share the most words with the question, in lesson order."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    if not paragraphs:
        return ""
    stems = {_stem(t) for t in terms(question)}

    def hits(paragraph: str) -> int:
        return sum(1 for word in _WORD.findall(paragraph.lower()) if any(word.startswith(s) for s in stems))

    ranked = sorted(range(len(paragraphs)), key=lambda i: (-hits(paragraphs[i]), i))[:limit]
    if stems and hits(paragraphs[ranked[0]]) == 0:
        ranked = [0]
    chosen: list[str] = []
    total = 0
    for index in sorted(ranked):
        paragraph = paragraphs[index]
        if chosen and total + len(paragraph) > max_chars:
            break
        chosen.append(paragraph if len(paragraph) <= max_chars else paragraph[: max_chars - 1].rstrip() + "…")
        total += len(paragraph)
    return "\n\n".join(chosen)
