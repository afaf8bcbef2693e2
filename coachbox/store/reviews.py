"""Review cards: questions a learner got wrong come back before later lessons (the schedule is learning.review).

The conversation asks and grades them (conversation.review); this module keeps the cards."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from coachbox.learning import timing
from coachbox.learning.learner import Review
from coachbox.learning.review import RIGHT_QUALITY, WRONG_QUALITY, Card, sm2
from coachbox.store import progress, transaction
from coachbox.store import schedule as q

KIND = "review"
CURSOR_KEY = "schedule.review_answer_id"  # box_state: the last answers.id turned into review state


def _card(row: sqlite3.Row | None) -> Card:
    if row is None:
        return Card()
    return Card(row["interval_days"], row["ease"], row["repetitions"], row["lapses"])


def _save(
    conn: sqlite3.Connection, learner_id: int, question_id: int, card: Card, now: datetime, answer_id: int | None = None
) -> None:
    due = (now + timedelta(days=card.interval_days)).isoformat()
    conn.execute(
        """INSERT INTO review_items (learner_id, question_id, due_at, interval_days, ease, repetitions, lapses,
                                     last_reviewed_at, source_answer_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (learner_id, question_id) DO UPDATE SET due_at = excluded.due_at,
               interval_days = excluded.interval_days, ease = excluded.ease, repetitions = excluded.repetitions,
               lapses = excluded.lapses, last_reviewed_at = excluded.last_reviewed_at,
               source_answer_id = COALESCE(excluded.source_answer_id, source_answer_id)""",
        (
            learner_id,
            question_id,
            due,
            card.interval_days,
            card.ease,
            card.repetitions,
            card.lapses,
            now.isoformat(),
            answer_id,
        ),
    )


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
            answers = conn.execute(
                "SELECT id, learner_id, question_id, correct FROM answers WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, batch),
            ).fetchall()
            for answer in answers:
                item = conn.execute(
                    "SELECT * FROM review_items WHERE learner_id = ? AND question_id = ?",
                    (answer["learner_id"], answer["question_id"]),
                ).fetchone()
                if answer["correct"] and item is None:
                    continue  # known already: nothing to review
                card = sm2(_card(item), RIGHT_QUALITY if answer["correct"] else WRONG_QUALITY)
                _save(conn, answer["learner_id"], answer["question_id"], card, now, answer["id"])
                report.items += 1
            if answers:
                conn.execute(
                    """INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?)
                                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
                    (CURSOR_KEY, str(answers[-1]["id"]), now.isoformat()),
                )
        report.answers += len(answers)
        if len(answers) < batch:
            return report


def record_review(conn: sqlite3.Connection, learner_id: int, question_id: int, quality: int, now: datetime) -> Card:
    """A review question answered in the conversation (quality 0–5, see conversation.review): the card moves on by
    SM-2 and is due again after its new interval. Called inside the turn's transaction."""
    item = conn.execute(
        "SELECT * FROM review_items WHERE learner_id = ? AND question_id = ?", (learner_id, question_id)
    ).fetchone()
    card = sm2(_card(item), quality)
    _save(conn, learner_id, question_id, card, now)
    return card


def start_review(conn: sqlite3.Connection, learner_id: int, key: str, now: datetime) -> None:
    """A review asked before local date `key`'s lesson: a pending (learner, 'review', key) row until it is over.
    It is the truth a lost session is rebuilt from (the review, not the lesson, is what the learner answers)."""
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, due_at, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)
           ON CONFLICT (learner_id, kind, key) DO UPDATE SET status = 'pending', due_at = excluded.due_at""",
        (learner_id, KIND, key, now.isoformat(), now.isoformat()),
    )


def finish_review(conn: sqlite3.Connection, learner_id: int, key: str) -> None:
    conn.execute(
        "UPDATE deliveries SET status = 'done' WHERE learner_id = ? AND kind = ? AND key = ?", (learner_id, KIND, key)
    )


def due_reviews(
    conn: sqlite3.Connection, zones: dict[int, str], now: datetime, limit: int, *, only_open: bool = False
) -> dict[int, Review]:
    """What the engine needs about review for these learners (id → time zone), for those with anything: the
    questions due by the end of their local day (at most `limit` per review, counting those already answered in
    an open one) and the open review, if any. only_open: just learners in the middle of a review, or with a daily
    lesson held for their reply (a message turn: only the daily lesson, or the reply that releases it, starts one)."""
    if limit <= 0 or not zones:
        return {}
    ids = json.dumps(list(zones))
    opened = {
        r["learner_id"]: (r["key"], r["due_at"])
        for r in conn.execute(
            """SELECT learner_id, key, due_at FROM deliveries WHERE learner_id IN (SELECT value FROM json_each(?))
           AND kind = ? AND status = 'pending'""",
            (ids, KIND),
        )
    }
    # Most learners have nothing to review: one query finds who might (an item due in the next two days, the
    # latest local day anywhere), and only those are looked at closer.
    if only_open:
        held = progress.held_lessons(conn, list(zones))
        candidates = set(opened) | (
            q.with_review_due(conn, list(held), before=now + timedelta(days=2)) if held else set()
        )
    else:
        candidates = set(opened) | q.with_review_due(conn, list(zones), before=now + timedelta(days=2))
    found = {}
    for learner_id in candidates:
        key, started = opened.get(learner_id, (None, None))
        asked = (
            conn.execute(
                "SELECT COUNT(*) FROM review_items WHERE learner_id = ? AND last_reviewed_at >= ?",
                (learner_id, started),
            ).fetchone()[0]
            if started
            else 0
        )
        # Intervals are in days: an item due any time today counts today (a wrong answer at 07:05 yesterday is
        # due at 07:05 today, and today's lesson at 07:00 should bring it).
        today = timing.local_day(now, zones[learner_id])
        end_of_day = timing.local_instant(today + timedelta(days=1), time(0, 0), zones[learner_id])
        due = tuple(
            r[0]
            for r in conn.execute(
                """SELECT question_id FROM review_items WHERE learner_id = ? AND due_at < ? ORDER BY due_at, question_id
               LIMIT ?""",
                (learner_id, end_of_day.isoformat(), max(0, limit - asked)),
            )
        )
        if due or key is not None:
            found[learner_id] = Review(due=due, asked=asked, open_since=key)
    return found
