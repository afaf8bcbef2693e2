"""Review cards: questions a learner got wrong come back before later lessons (the schedule is learning.review,
FSRS-6), and the review log every review leaves (review_log: predicted recall against what happened).

The conversation asks and grades them (conversation.review); this module keeps the cards."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from coachbox.learning import timing
from coachbox.learning.learner import Review
from coachbox.learning.review import DEFAULT_RETENTION, Card, Outcome, rating, retried, review
from coachbox.store import progress, transaction
from coachbox.store import schedule as q

KIND = "review"
CURSOR_KEY = "schedule.review_answer_id"  # box_state: the last answers.id turned into review state


def _card(row: sqlite3.Row | None) -> Card | None:
    if row is None:
        return None
    last = row["last_reviewed_at"]
    return Card(
        due=datetime.fromisoformat(row["due_at"]),
        stability=row["stability"],
        difficulty=row["difficulty"],
        last_review=datetime.fromisoformat(last) if last else None,
        repetitions=row["repetitions"],
        lapses=row["lapses"],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _save(
    conn: sqlite3.Connection,
    learner_id: int,
    question_id: int,
    outcome: Outcome,
    *,
    source: str,
    desired_retention: float,
    answer_id: int | None = None,
) -> None:
    """The card after a review into review_items, and the review into review_log (both in the caller's transaction)."""
    card, before = outcome.card, outcome.before
    assert card.last_review is not None and card.stability is not None and card.difficulty is not None
    at = card.last_review
    interval = round((card.due - at).total_seconds() / 86400, 2)
    conn.execute(
        """INSERT INTO review_items (learner_id, question_id, due_at, interval_days, repetitions, lapses,
                                     last_reviewed_at, source_answer_id, stability, difficulty)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (learner_id, question_id) DO UPDATE SET due_at = excluded.due_at,
               interval_days = excluded.interval_days, repetitions = excluded.repetitions,
               lapses = excluded.lapses, last_reviewed_at = excluded.last_reviewed_at,
               stability = excluded.stability, difficulty = excluded.difficulty,
               source_answer_id = COALESCE(excluded.source_answer_id, source_answer_id)""",
        (
            learner_id,
            question_id,
            card.due.isoformat(),
            interval,
            card.repetitions,
            card.lapses,
            at.isoformat(),
            answer_id,
            card.stability,
            card.difficulty,
        ),
    )
    conn.execute(
        """INSERT INTO review_log (learner_id, question_id, reviewed_at, source, rating, retrievability, elapsed_days,
                                   stability_before, difficulty_before, due_before, stability_after, difficulty_after,
                                   due_after, desired_retention)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            learner_id,
            question_id,
            at.isoformat(),
            source,
            outcome.rating,
            outcome.retrievability,
            outcome.elapsed_days,
            before.stability if before else None,
            before.difficulty if before else None,
            _iso(before.due) if before else None,
            card.stability,
            card.difficulty,
            card.due.isoformat(),
            desired_retention,
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


def ingest_answers(
    conn: sqlite3.Connection, now: datetime, *, batch: int = 5000, desired_retention: float = DEFAULT_RETENTION
) -> IngestReport:
    """Turn new quiz answers into review state: a wrong answer starts (or lapses) an item (Again); a right answer to
    a question already under review counts as a recall (Good, or Hard when it retries a question answered wrong
    hours before: learning.review.rating and retried). Each is reviewed at the time it was given (never before the
    item's last review). A cursor in box_state makes it incremental."""
    report = IngestReport()
    while True:
        with transaction(conn):
            row = conn.execute("SELECT value FROM box_state WHERE key = ?", (CURSOR_KEY,)).fetchone()
            cursor = int(row[0]) if row else 0
            answers = conn.execute(
                """SELECT id, learner_id, question_id, correct, answered_at FROM answers WHERE id > ?
                   ORDER BY id LIMIT ?""",
                (cursor, batch),
            ).fetchall()
            for answer in answers:
                item = conn.execute(
                    "SELECT * FROM review_items WHERE learner_id = ? AND question_id = ?",
                    (answer["learner_id"], answer["question_id"]),
                ).fetchone()
                if answer["correct"] and item is None:
                    continue  # known already: nothing to review
                card = _card(item)
                at = _answered_at(answer["answered_at"], now)
                if card is not None and card.last_review is not None and at < card.last_review:
                    at = card.last_review  # answered before a review the turn already recorded: not in the past
                given = rating(bool(answer["correct"]), helped=retried(card, at))
                outcome = review(card, given, at, desired_retention=desired_retention)
                _save(
                    conn,
                    answer["learner_id"],
                    answer["question_id"],
                    outcome,
                    source="quiz",
                    desired_retention=desired_retention,
                    answer_id=answer["id"],
                )
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


def _answered_at(text: str | None, now: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(text) if text else now
    except ValueError:
        return now
    return at if at.tzinfo is not None and at <= now else now


def record_review(
    conn: sqlite3.Connection,
    learner_id: int,
    question_id: int,
    given: int,
    now: datetime,
    *,
    desired_retention: float = DEFAULT_RETENTION,
) -> Card:
    """A review question answered in the conversation, rated `given` (learning.review.rating): the card moves on
    by FSRS-6 and is due again after its new interval; the review is logged. Called inside the turn's transaction."""
    item = conn.execute(
        "SELECT * FROM review_items WHERE learner_id = ? AND question_id = ?", (learner_id, question_id)
    ).fetchone()
    outcome = review(_card(item), given, now, desired_retention=desired_retention)
    _save(conn, learner_id, question_id, outcome, source="review", desired_retention=desired_retention)
    return outcome.card


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


@dataclass(frozen=True)
class CalibrationBin:
    """Reviews whose predicted recall fell in [low, high): how many, the mean prediction, and the share right."""

    low: float
    high: float
    reviews: int
    predicted: float
    actual: float


def calibration(conn: sqlite3.Connection, course_id: int, *, bins: int = 10) -> list[CalibrationBin]:
    """Predicted recall at review time against actual recall, for one course's questions: review_log rows with a
    prediction (a card's first review predicts nothing) a day or more after the card's last review (a same-day
    retry, such as a quiz retake minutes after the wrong answer, is predicted at 100 % by FSRS's whole days and
    says nothing about memory; FSRS's own benchmark leaves them out too). Empty bins are left out."""
    rows = conn.execute(
        """SELECT MIN(CAST(r.retrievability * :bins AS INTEGER), :bins - 1) AS bin, COUNT(*) AS n,
                  AVG(r.retrievability) AS predicted, AVG(r.rating > 1) AS actual
           FROM review_log r JOIN questions qu ON qu.id = r.question_id JOIN lessons l ON l.id = qu.lesson_id
           WHERE l.course_id = :course AND r.retrievability IS NOT NULL AND r.elapsed_days >= 1
           GROUP BY bin ORDER BY bin""",
        {"bins": bins, "course": course_id},
    ).fetchall()
    return [CalibrationBin(r["bin"] / bins, (r["bin"] + 1) / bins, r["n"], r["predicted"], r["actual"]) for r in rows]
