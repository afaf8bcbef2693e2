"""Migration 0016 (quiz retries, welcome back) on a box that has learners mid-course: nothing lost, nothing guessed."""

from __future__ import annotations

import sqlite_utils

from coachbox import store
from coachbox.learning.progress import retry_questions
from coachbox.store.learners import snapshot


def test_0016_keeps_every_attempt_and_leaves_old_ones_to_a_whole_quiz(tmp_path):
    names = [m.name for m in store.migrations().pending(sqlite_utils.Database(memory=True))]
    old = store.connect(tmp_path / "old.db")
    store.migrations().apply(sqlite_utils.Database(old), stop_before="0016_quiz_retry_and_welcome_back")
    x = "2026-03-01T05:00:00+00:00"
    old.execute(
        """INSERT INTO learners (id, channel_key, status, streak, best_streak, last_active_date, created_at,
                                 updated_at) VALUES (1, 'sim:+254700000001', 'active', 2, 4, '2026-02-28', ?, ?)""",
        (x, x),
    )
    old.execute(
        "INSERT INTO courses (id, slug, language, title, created_at, updated_at) VALUES (1, 'm', 'en', 'M', ?, ?)",
        (x, x),
    )
    old.execute(
        """INSERT INTO lessons (id, course_id, slug, position, title, body, created_at, updated_at)
           VALUES (10, 1, 'l1', 1, 'L1', 'Body', ?, ?)""",
        (x, x),
    )
    for position in (1, 2, 3):
        old.execute(
            "INSERT INTO questions (id, lesson_id, position, kind, prompt, answer) VALUES (?, 10, ?, 'true_false', 'Q', 'true')",
            (100 + position, position),
        )
    old.execute(
        """INSERT INTO progress (learner_id, lesson_id, delivered_at, completed_at, completed_local_date, correct, total,
                                 attempts, passed) VALUES (1, 10, ?, ?, '2026-03-01', 1, 3, 1, 0)""",
        (x, x),
    )
    assert store.migrate(old) == names[names.index("0016_quiz_retry_and_welcome_back") :]
    row = old.execute("SELECT correct, total, attempts, passed, missed FROM progress").fetchone()
    assert tuple(row) == (1, 3, 1, 0, None)
    learner = snapshot(old, 1)
    assert learner is not None and learner.welcomed_back_on is None and learner.streak.best == 4
    result = learner.result(10)
    assert result is not None and result.missed == () and not result.passed
    assert retry_questions(result, [101, 102, 103]) == ()  # no missed questions on record: QUIZ asks them all
