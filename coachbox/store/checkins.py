"""The course check-in's answers (checkin_answers, migration 0017): recording them and the learning gain."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Gain:
    """One class (cohort; '' for learners in none, None for the whole course) of a course's check-in figures."""

    cohort: str | None
    learners: int  # answered every check-in question both before and after
    right_before: int  # answers right before, over those learners
    right_after: int
    answers: int  # answers per phase over those learners (learners x questions)
    before_only: int  # answered it all before, not (yet) after: started, not finished, or skipped the second

    @property
    def share_before(self) -> float | None:
        return self.right_before / self.answers if self.answers else None

    @property
    def share_after(self) -> float | None:
        return self.right_after / self.answers if self.answers else None

    @property
    def gain_points(self) -> float | None:
        """Percentage points gained (after minus before), over the learners who did both."""
        if not self.answers:
            return None
        return 100 * (self.right_after - self.right_before) / self.answers


def record_answer(
    conn: sqlite3.Connection,
    learner_id: int,
    course_id: int,
    phase: str,
    position: int,
    given: str,
    correct: bool,
    now: datetime,
) -> None:
    """One check-in answer; answering the same question of the same phase again keeps the first answer."""
    conn.execute(
        """INSERT OR IGNORE INTO checkin_answers (learner_id, course_id, phase, position, given, correct, answered_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (learner_id, course_id, phase, position, given[:500], int(correct), now.isoformat()),
    )


def learning_gain(conn: sqlite3.Connection, course_id: int, questions: int) -> list[Gain]:
    """The whole course first (cohort None), then each class by name: the share right before and after among the
    learners who answered all `questions` check-in questions in both phases. One query over checkin_answers."""
    if questions <= 0:
        return []
    rows = conn.execute(
        """WITH per AS (
               SELECT learner_id, phase, SUM(correct) AS right_n, COUNT(*) AS n
               FROM checkin_answers WHERE course_id = ? AND position <= ? GROUP BY learner_id, phase
           ),
           whole AS (
               SELECT b.learner_id, b.right_n AS rb, a.right_n AS ra
               FROM per b LEFT JOIN per a ON a.learner_id = b.learner_id AND a.phase = 'after' AND a.n = ?
               WHERE b.phase = 'before' AND b.n = ?
           )
           SELECT COALESCE(l.cohort, '') AS cohort,
                  SUM(w.ra IS NOT NULL) AS learners,
                  COALESCE(SUM(CASE WHEN w.ra IS NOT NULL THEN w.rb END), 0) AS rb,
                  COALESCE(SUM(w.ra), 0) AS ra,
                  SUM(w.ra IS NULL) AS before_only
           FROM whole w JOIN learners l ON l.id = w.learner_id
           GROUP BY COALESCE(l.cohort, '') ORDER BY cohort""",
        (course_id, questions, questions, questions),
    ).fetchall()
    classes = [Gain(r[0], r[1], r[2], r[3], r[1] * questions, r[4]) for r in rows]
    total = Gain(
        None,
        sum(g.learners for g in classes),
        sum(g.right_before for g in classes),
        sum(g.right_after for g in classes),
        sum(g.answers for g in classes),
        sum(g.before_only for g in classes),
    )
    return [total, *classes] if classes else []
