"""The course page's tallies (migration 0027) give the same figures as counting every answer and progress row."""

from __future__ import annotations

import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import sqlite_utils

from coachbox import store
from coachbox.store import dashboard as board
from coachbox.store import progress, stats
from coachbox.store.database import Database

NOW = datetime.fromisoformat("2026-03-02T05:00:00+00:00")


def _course(conn: sqlite3.Connection, course_id: int, slug: str, lessons: int = 4) -> None:
    conn.execute(
        "INSERT INTO courses (id, slug, language, title, created_at, updated_at) VALUES (?, ?, 'en', ?, '', '')",
        (course_id, slug, slug.title()),
    )
    for position in range(1, lessons + 1):
        lesson_id = course_id * 100 + position
        conn.execute(
            "INSERT INTO lessons (id, course_id, slug, position, title, body, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'text', '', '')",
            (lesson_id, course_id, f"l{position}", position, f"Lesson {position}"),
        )
        for q in range(1, 4):
            conn.execute(
                "INSERT INTO questions (id, lesson_id, position, kind, prompt, choices, answer) "
                "VALUES (?, ?, ?, 'choice', 'Q?', '[\"a\", \"b\", \"c\"]', 'A')",
                (lesson_id * 10 + q, lesson_id, q),
            )


def _activity(conn: sqlite3.Connection, seed: int, learners: int = 60) -> None:
    """Random learners through the store's own writes: deliveries, quizzes started and finished (retakes too),
    answers (retries and reviews answer a question again), a move to the translated course, and deletions."""
    rng = random.Random(seed)
    for i in range(1, learners + 1):
        conn.execute(
            "INSERT INTO learners (id, channel_key, phone, name, created_at, updated_at) VALUES (?, ?, ?, ?, '', '')",
            (i, f"whatsapp:+2547{i:08d}", f"+2547{i:08d}", f"Learner {i}"),
        )
        progress.enroll(conn, i, 1, NOW)
    for step in range(1500):
        learner = rng.randrange(1, learners + 1)
        lesson = 100 + rng.randrange(1, 5)
        now = NOW + timedelta(minutes=step)
        action = rng.random()
        if action < 0.25:
            progress.record_delivery(
                conn, learner, lesson_id=lesson, course_id=1, next_position=lesson - 99, kind="daily_lesson",
                key=f"{step}", now=now,
            )  # fmt: skip
        elif action < 0.35:
            progress.start_quiz(conn, learner, lesson, now)
        elif action < 0.75:
            question = lesson * 10 + rng.randrange(1, 4)
            given = rng.choice("ABCD")
            progress.record_answer(conn, learner, question, given, given == "A", now)
        elif action < 0.95:
            correct = rng.randrange(4)
            progress.complete_lesson(
                conn, learner, lesson_id=lesson, correct=correct, total=rng.choice((3, 3, 3, 0)),
                passed=correct >= 2, local_date=now.date().isoformat(), now=now,
            )  # fmt: skip
        elif action < 0.97:
            conn.execute(
                "DELETE FROM answers WHERE id = (SELECT MIN(id) FROM answers WHERE learner_id = ?)", (learner,)
            )
        elif action < 0.975:
            conn.execute("UPDATE answers SET correct = 1 - correct WHERE id = (SELECT MAX(id) FROM answers)")
        elif action < 0.98:  # the nightly redaction of old answers' text
            conn.execute("UPDATE answers SET given = '' WHERE id % 50 = ?", (rng.randrange(50),))
        else:
            progress.move_to_translation(
                conn, learner, from_course_id=1, to_course_id=2,
                lessons=tuple((100 + n, 200 + n) for n in range(1, 5)),
                questions=tuple(((100 + n) * 10 + q, (200 + n) * 10 + q) for n in range(1, 5) for q in range(1, 4)),
            )  # fmt: skip
    conn.execute("DELETE FROM learners WHERE id IN (3, 4)")  # cascades to their answers and progress


def _figures(conn: sqlite3.Connection, course_id: int, *, from_rows: bool) -> tuple:
    funnel = (stats.course_funnel_from_rows if from_rows else stats.course_funnel)(conn, course_id)
    difficulty = (stats.question_difficulty_from_answers if from_rows else stats.question_difficulty)(conn, course_id)
    lessons = board.lesson_completion(conn, course_id, from_rows=from_rows)
    wrong = board.common_wrong_answers(conn, course_id, per_question=10, from_rows=from_rows)
    return funnel, [dict(row) for row in difficulty], lessons, wrong


def test_the_tallies_kept_as_learners_answer_match_counting_every_row(conn):
    _course(conn, 1, "money")
    _course(conn, 2, "pesa")
    _activity(conn, seed=16)
    for course_id in (1, 2):
        tallied = _figures(conn, course_id, from_rows=False)
        assert tallied == _figures(conn, course_id, from_rows=True)
    funnel, difficulty, lessons, wrong = _figures(conn, 1, from_rows=False)
    assert sum(n for answers in wrong.values() for _, n in answers) > 100
    assert all(n > 0 for _, n in funnel[:4]) and sum(q["answered"] for q in difficulty) > 100
    assert sum(lesson["completed"] for lesson in lessons) > 50


def test_the_migration_counts_what_was_there_before_it(tmp_path):
    path = tmp_path / "coachbox.db"
    conn = store.connect(path)
    store.migrations().apply(sqlite_utils.Database(conn), stop_before="0027_learning_tallies")
    _course(conn, 1, "money")
    _course(conn, 2, "pesa")
    _activity(conn, seed=7)
    before = [_figures(conn, course_id, from_rows=True) for course_id in (1, 2)]
    store.migrate(conn)
    assert [_figures(conn, course_id, from_rows=False) for course_id in (1, 2)] == before
    conn.close()


def test_admin_reads_run_beside_the_writer_on_a_read_only_connection(settings, conn):
    """Database.read: a read that takes its time does not hold up a write on the writer thread, sees what was
    committed, and cannot write."""
    _course(conn, 1, "money")
    db = Database(settings.db_path)
    try:
        began, release = threading.Event(), threading.Event()

        def slow_read(c: sqlite3.Connection) -> int:
            began.set()
            assert release.wait(10)
            return c.execute("SELECT COUNT(*) FROM lessons").fetchone()[0]

        with ThreadPoolExecutor(1) as pool:
            reading = pool.submit(db.read_sync, slow_read)
            assert began.wait(10)
            db.run_sync(lambda c: c.execute("UPDATE courses SET title = 'Pesa' WHERE id = 1"))  # not blocked
            release.set()
            assert reading.result() == 4
        assert db.read_sync(lambda c: c.execute("SELECT title FROM courses").fetchone()[0]) == "Pesa"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.read_sync(lambda c: c.execute("UPDATE courses SET title = 'x'"))
    finally:
        db.close()
