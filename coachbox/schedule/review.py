"""Spaced repetition: questions a learner got wrong come back before later lessons, on an SM-2 schedule."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from coachbox.schedule import timing
from coachbox.schedule.coach import Coach
from coachbox.store import schedule as q
from coachbox.store import transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound

KIND = "review"
CURSOR_KEY = "schedule.review_answer_id"  # box_state: the last answers.id turned into review state
SHOWN_QUALITY = 3  # a review card read before the lesson: "recalled with difficulty" in SM-2's 0–5 scale
RIGHT_QUALITY = 4  # the question answered right again in a quiz
WRONG_QUALITY = 1  # answered wrong (again)


@dataclass(frozen=True)
class Card:
    """SM-2 state of one (learner, question) item."""

    interval_days: float = 0.0
    ease: float = 2.5
    repetitions: int = 0
    lapses: int = 0


def sm2(card: Card, quality: int) -> Card:
    """SuperMemo-2 (Wozniak 1990): a failed recall restarts the intervals; a good one multiplies them by ease."""
    ease = max(1.3, card.ease + 0.1 - (5 - quality) * (0.08 + (5 - quality) * 0.02))
    if quality < 3:
        return Card(interval_days=1.0, ease=ease, repetitions=0, lapses=card.lapses + 1)
    repetitions = card.repetitions + 1
    interval = 1.0 if repetitions == 1 else 6.0 if repetitions == 2 else round(card.interval_days * ease, 1)
    return replace(card, interval_days=interval, ease=ease, repetitions=repetitions)


def _card(row: sqlite3.Row | None) -> Card:
    if row is None:
        return Card()
    return Card(row["interval_days"], row["ease"], row["repetitions"], row["lapses"])


def _save(conn: sqlite3.Connection, learner_id: int, question_id: int, card: Card, now: datetime,
          answer_id: int | None = None) -> None:
    due = (now + timedelta(days=card.interval_days)).isoformat()
    conn.execute(
        """INSERT INTO review_items (learner_id, question_id, due_at, interval_days, ease, repetitions, lapses,
                                     last_reviewed_at, source_answer_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (learner_id, question_id) DO UPDATE SET due_at = excluded.due_at,
               interval_days = excluded.interval_days, ease = excluded.ease, repetitions = excluded.repetitions,
               lapses = excluded.lapses, last_reviewed_at = excluded.last_reviewed_at,
               source_answer_id = COALESCE(excluded.source_answer_id, source_answer_id)""",
        (learner_id, question_id, due, card.interval_days, card.ease, card.repetitions, card.lapses, now.isoformat(),
         answer_id))


@dataclass
class IngestReport:
    answers: int = 0
    items: int = 0

    @property
    def idle(self) -> bool:
        return not self.answers

    def summary(self) -> str:
        return "no new answers" if self.idle else f"{self.answers} answers read, {self.items} review items updated"


def ingest_answers(conn: sqlite3.Connection, now: datetime, *, batch: int = 5000) -> IngestReport:
    """Turn new quiz answers into review state: a wrong answer starts (or lapses) an item; a right answer to a
    question already under review counts as a good recall. A cursor in box_state makes it incremental."""
    report = IngestReport()
    while True:
        with transaction(conn):
            row = conn.execute("SELECT value FROM box_state WHERE key = ?", (CURSOR_KEY,)).fetchone()
            cursor = int(row[0]) if row else 0
            answers = conn.execute("SELECT id, learner_id, question_id, correct FROM answers WHERE id > ? "
                                   "ORDER BY id LIMIT ?", (cursor, batch)).fetchall()
            for answer in answers:
                item = conn.execute("SELECT * FROM review_items WHERE learner_id = ? AND question_id = ?",
                                    (answer["learner_id"], answer["question_id"])).fetchone()
                if answer["correct"] and item is None:
                    continue  # known already: nothing to review
                card = sm2(_card(item), RIGHT_QUALITY if answer["correct"] else WRONG_QUALITY)
                _save(conn, answer["learner_id"], answer["question_id"], card, now, answer["id"])
                report.items += 1
            if answers:
                conn.execute("""INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?)
                                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
                             (CURSOR_KEY, str(answers[-1]["id"]), now.isoformat()))
        report.answers += len(answers)
        if len(answers) < batch:
            return report


def answer_text(texts, language: str, question: sqlite3.Row) -> str:
    """The right answer as words: the choice itself, true/false in the learner's language, the first accepted."""
    answer = json.loads(question["answer"])
    if question["kind"] == "choice":
        choices = json.loads(question["choices"])
        return choices[answer - 1] if isinstance(answer, int) and 0 < answer <= len(choices) else str(answer)
    if question["kind"] == "true_false":
        return texts.t(language, "quiz.true_word" if answer else "quiz.false_word")
    return str(answer[0]) if isinstance(answer, list) and answer else str(answer)


def before_lesson(conn: sqlite3.Connection, coach: Coach, learner_id: int, today: date, now: datetime) -> None:
    """A daily-lesson step: up to review_per_day due items as one short message, then rescheduled by SM-2."""
    limit = coach.settings.schedule.review_per_day
    if limit <= 0:
        return
    learner = conn.execute("SELECT language, channel, channel_key, timezone FROM learners WHERE id = ?",
                           (learner_id,)).fetchone()
    # Intervals are in days: an item due any time today counts today (a wrong answer at 07:05 yesterday is due
    # at 07:05 today, and today's lesson at 07:00 should bring it).
    end_of_day = timing.local_instant(today + timedelta(days=1), time(0, 0), learner["timezone"])
    due = conn.execute(
        """SELECT r.*, qu.prompt, qu.kind AS question_kind, qu.choices, qu.answer, qu.explanation
           FROM review_items r JOIN questions qu ON qu.id = r.question_id
           WHERE r.learner_id = ? AND r.due_at < ? ORDER BY r.due_at LIMIT ?""",
        (learner_id, end_of_day.isoformat(), limit)).fetchall()
    if not due or not q.claim(conn, learner_id, KIND, today.isoformat(), due_at=now, status="done", now=now):
        return
    texts, lang = coach.texts, learner["language"]
    parts = [texts.t(lang, "review.title")]
    for item in due:
        question = {"kind": item["question_kind"], "choices": item["choices"], "answer": item["answer"]}
        text = texts.t(lang, "review.item", prompt=item["prompt"], answer=answer_text(texts, lang, question))
        if item["explanation"]:
            text += "\n" + texts.t(lang, "review.explanation", explanation=item["explanation"])
        parts.append(text)
        _save(conn, learner_id, item["question_id"], sm2(_card(item), SHOWN_QUALITY), now)
    enqueue_outbound(conn, learner_id=learner_id, channel=learner["channel"], address=learner["channel_key"],
                     draft=OutboxDraft("\n\n".join(parts), kind="review",
                                       idempotency_key=f"{KIND}:{learner_id}:{today.isoformat()}"), now=now)
