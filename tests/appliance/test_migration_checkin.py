"""Migration 0017: courses get an empty check-in, check-in answers get their table, and nothing else changes."""

from __future__ import annotations

import sqlite_utils

from coachbox import store
from coachbox.content.catalogue import load_catalogue


def test_a_box_from_before_0017_keeps_its_courses_and_gets_the_check_in_table(tmp_path):
    conn = store.connect(tmp_path / "coachbox.db")
    store.migrations().apply(sqlite_utils.Database(conn), stop_before="0017_course_checkin")
    x = "2026-01-01T00:00:00+00:00"
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, source_hash, created_at, updated_at) "
        "VALUES ('c', 'en', 'C', 'h', ?, ?)",
        (x, x),
    ).lastrowid
    conn.execute(
        "INSERT INTO lessons (course_id, slug, position, title, body, created_at, updated_at) "
        "VALUES (?, 'l', 1, 'L', 'B', ?, ?)",
        (course, x, x),
    )
    conn.commit()
    assert "0017_course_checkin" in store.migrate(conn)
    assert tuple(conn.execute("SELECT checkin, source_hash FROM courses").fetchone()) == ("[]", "h")
    (loaded,) = load_catalogue(conn).courses
    assert (loaded.slug, loaded.checkin, len(loaded.lessons)) == ("c", (), 1)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(checkin_answers)")]
    assert columns == ["id", "learner_id", "course_id", "phase", "position", "given", "correct", "answered_at"]
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(answers)")}
    assert "answers_question_learner" in indexes
