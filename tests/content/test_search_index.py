"""The lessons_fts index (migration 0002): it finds imported lessons and follows updates and deletions."""

from __future__ import annotations

import sqlite_utils

from coachbox import store
from coachbox.content.importer import import_folder
from tests.content.folder import LESSON_TWO, content_folder


def _search(conn, query: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT l.slug FROM lessons_fts JOIN lessons l ON l.id = lessons_fts.rowid WHERE lessons_fts MATCH ? "
            "ORDER BY rank",
            (query,),
        )
    ]


def test_it_finds_an_imported_lesson_and_follows_an_update(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    assert _search(conn, "keypad") == ["keep-your-pin-secret"]
    assert _search(conn, "simu") == ["pesa-za-simu"]
    changed = LESSON_TWO.replace("Cover the keypad", "Hide the screen from the café crowd")
    import_folder(conn, content_folder(tmp_path, {"courses/money/02-keep-your-pin-secret.md": changed}), settings)
    assert _search(conn, "keypad") == []
    assert _search(conn, "cafe") == ["keep-your-pin-secret"]  # remove_diacritics
    import_folder(conn, content_folder(tmp_path, {"courses/money/02-keep-your-pin-secret.md": None}), settings)
    assert _search(conn, "cafe") == []


def test_it_indexes_lessons_that_existed_before_the_migration(tmp_path):
    conn = store.connect(tmp_path / "old.db")
    store.migrations().apply(sqlite_utils.Database(conn), stop_before="0002_lessons_fts")
    conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES ('c', 'en', 'C', 'x', 'x')"
    )
    conn.execute(
        "INSERT INTO lessons (course_id, slug, position, title, body, created_at, updated_at) "
        "VALUES (1, 'l', 1, 'Savings', 'Put money aside weekly', 'x', 'x')"
    )
    store.migrate(conn)
    assert _search(conn, "weekly") == ["l"]
    conn.close()
