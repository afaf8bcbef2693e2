"""Importing content: all or nothing, idempotent, updates in place, never loses what learners did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coachbox.cli import main as cli
from coachbox.content.importer import import_folder
from coachbox.content.parser import ContentError
from tests.conftest import REPO
from tests.content.folder import BADGES, LESSON_ONE, LESSON_TWO, content_folder

NOW = "2026-03-02T05:00:00+00:00"
PIN = "courses/money/02-keep-your-pin-secret.md"


def _learner(conn, phone: str = "+254700000001") -> int:
    return conn.execute(
        "INSERT INTO learners (channel_key, created_at, updated_at) VALUES (?, ?, ?)", (f"sim:{phone}", NOW, NOW)
    ).lastrowid


def _lesson_id(conn, slug: str) -> int:
    return conn.execute("SELECT id FROM lessons WHERE slug = ?", (slug,)).fetchone()[0]


def _question_id(conn, slug: str, position: int) -> int:
    return conn.execute(
        "SELECT q.id FROM questions q JOIN lessons l ON l.id = q.lesson_id WHERE l.slug = ? AND q.position = ?",
        (slug, position),
    ).fetchone()[0]


def _started(conn, learner: int, slug: str, answered: int | None = None) -> None:
    conn.execute(
        "INSERT INTO progress (learner_id, lesson_id, delivered_at) VALUES (?, ?, ?)",
        (learner, _lesson_id(conn, slug), NOW),
    )
    if answered:
        conn.execute(
            "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) VALUES (?, ?, '1', 1, ?)",
            (learner, _question_id(conn, slug, answered), NOW),
        )


def test_it_imports_a_folder_into_the_database(tmp_path, settings, conn):
    report = import_folder(conn, content_folder(tmp_path), settings)
    assert (report.courses.new, report.lessons.new, report.badges.new) == (2, 3, 2)
    assert report.summary().startswith(
        "Imported 2 courses (2 new, 0 updated, 0 unchanged), 3 lessons (3 new, 0 updated, 0 unchanged, 0 unpublished, "
        "0 deleted), 2 badges (2 new, 0 updated), 2 locales, 0 media files copied, 0 warnings; "
    )
    rows = conn.execute("SELECT slug, language, translation_of, published FROM courses ORDER BY slug").fetchall()
    assert [tuple(row) for row in rows] == [("money", "en", None, 1), ("pesa", "sw", "money", 1)]
    question = conn.execute(
        "SELECT kind, choices, answer, explanation FROM questions WHERE id = ?",
        (_question_id(conn, "keep-your-pin-secret", 1),),
    ).fetchone()
    assert json.loads(question["choices"]) == ["Only you", "The agent", "Your cousin"] and question["answer"] == "1"
    assert (
        conn.execute(
            "SELECT answer FROM questions WHERE id = ?", (_question_id(conn, "keep-your-pin-secret", 2),)
        ).fetchone()[0]
        == '["PIN", "my PIN"]'
    )
    names = conn.execute("SELECT names FROM badge_definitions WHERE code = 'first-lesson'").fetchone()[0]
    assert json.loads(names) == {"en": "First Step", "sw": "Hatua ya Kwanza"}


def test_it_changes_no_rows_when_nothing_changed(tmp_path, settings, conn):
    folder = content_folder(tmp_path)
    import_folder(conn, folder, settings)
    before = conn.total_changes
    report = import_folder(conn, folder, settings)
    assert conn.total_changes == before and report.rows_changed == 0
    assert (report.courses.unchanged, report.lessons.unchanged, report.badges.unchanged) == (2, 3, 2)


def test_it_updates_changed_files_in_place_and_keeps_learner_progress(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    learner = _learner(conn)
    _started(conn, learner, "keep-your-pin-secret", answered=1)
    ids = (_lesson_id(conn, "keep-your-pin-secret"), _question_id(conn, "keep-your-pin-secret", 1))
    changed = LESSON_TWO.replace("Who may know your PIN?", "Who may ever know your PIN?").replace(
        "Cover the keypad", "Hide the keypad"
    )
    report = import_folder(conn, content_folder(tmp_path, {PIN: changed}), settings)
    assert (report.lessons.updated, report.lessons.unchanged, report.courses.unchanged) == (1, 2, 2)
    assert (_lesson_id(conn, "keep-your-pin-secret"), _question_id(conn, "keep-your-pin-secret", 1)) == ids
    assert (
        conn.execute("SELECT prompt FROM questions WHERE id = ?", (ids[1],)).fetchone()[0]
        == "Who may ever know your PIN?"
    )
    assert "Hide the keypad" in conn.execute("SELECT body FROM lessons WHERE id = ?", (ids[0],)).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM progress").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM answers WHERE question_id = ?", (ids[1],)).fetchone()[0] == 1


def test_it_unpublishes_a_removed_lesson_that_learners_started_and_deletes_an_untouched_one(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    _started(conn, _learner(conn), "keep-your-pin-secret")
    report = import_folder(
        conn, content_folder(tmp_path, {PIN: None, "courses/money/01-what-is-mobile-money.md": None}), settings
    )
    assert (report.lessons_unpublished, report.lessons_deleted) == (1, 1)
    rows = conn.execute(
        "SELECT slug, published FROM lessons WHERE course_id = (SELECT id FROM courses WHERE slug = 'money')"
    )
    assert [tuple(row) for row in rows] == [("keep-your-pin-secret", 0)]
    assert conn.execute("SELECT count(*) FROM progress").fetchone()[0] == 1
    # Putting the file back publishes the same row again.
    report = import_folder(conn, content_folder(tmp_path, {PIN: LESSON_TWO}), settings)
    assert conn.execute("SELECT published FROM lessons WHERE slug = 'keep-your-pin-secret'").fetchone()[0] == 1
    assert report.lessons.new == 1 and report.lessons.updated == 1  # lesson one came back as a new row


def test_it_retires_a_removed_question_that_learners_answered(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    _started(conn, _learner(conn), "keep-your-pin-secret", answered=2)
    one_question = LESSON_TWO.split('\n\n[[quiz]]\nkind = "short"')[0] + "\n+++\nYour *PIN* is yours alone.\n"
    report = import_folder(conn, content_folder(tmp_path, {PIN: one_question}), settings)
    assert report.questions_retired == 1
    rows = conn.execute(
        "SELECT position, published FROM questions WHERE lesson_id = ? ORDER BY position",
        (_lesson_id(conn, "keep-your-pin-secret"),),
    )
    assert [tuple(row) for row in rows] == [(1, 1), (2, 0)]
    assert conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 1


def test_it_writes_nothing_when_the_folder_has_errors(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    before = conn.total_changes
    broken = content_folder(
        tmp_path,
        {
            "courses/money/01-what-is-mobile-money.md": LESSON_ONE.replace("Your number", "Your phone number"),
            PIN: LESSON_TWO.replace("answer = 1\n", ""),
            "courses/new/course.toml": 'title = "New"\nlanguage = "en"\n',
        },
    )
    with pytest.raises(ContentError) as caught:
        import_folder(conn, broken, settings)
    assert str(caught.value) == (
        "content has 1 error, nothing was imported:\n"
        "content/courses/money/02-keep-your-pin-secret.md:4: quiz question 1 has no answer "
        "(add answer = N, the number of the right choice, from 1 to 3)"
    )
    assert conn.total_changes == before
    assert conn.execute("SELECT count(*) FROM courses").fetchone()[0] == 2
    assert "Your number" in conn.execute("SELECT body FROM lessons WHERE slug = 'what-is-mobile-money'").fetchone()[0]


def test_it_exits_1_with_file_line_messages_from_the_cli(tmp_path, settings, monkeypatch, capsys):
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    broken = content_folder(tmp_path, {PIN: LESSON_TWO.replace("answer = 1\n", "answer = 7\n")})
    assert cli.main(["--config", str(REPO / "coachbox.toml"), "import", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "02-keep-your-pin-secret.md:8: quiz question 1: answer 7 is not one of the 3 choices" in err
    assert "Traceback" not in err


def test_it_copies_media_once_and_again_only_when_it_changes(tmp_path, settings, conn):
    lesson = LESSON_ONE.replace("minutes = 4\n", 'minutes = 4\nmedia = "media/intro.png"\n')
    changes = {"courses/money/01-what-is-mobile-money.md": lesson, "courses/money/media/intro.png": b"\x89PNG one"}
    folder = content_folder(tmp_path, changes)
    assert import_folder(conn, folder, settings).media_copied == 1
    stored = conn.execute("SELECT media FROM lessons WHERE slug = 'what-is-mobile-money'").fetchone()[0]
    assert stored == "courses/money/media/intro.png"
    copy = settings.data_dir / "media" / stored
    assert copy.read_bytes() == b"\x89PNG one"
    assert import_folder(conn, folder, settings).media_copied == 0
    report = import_folder(
        conn, content_folder(tmp_path, {**changes, "courses/money/media/intro.png": b"\x89PNG two"}), settings
    )
    assert (report.media_copied, report.lessons.updated) == (1, 1)
    assert copy.read_bytes() == b"\x89PNG two"


def test_it_updates_badges_and_removes_only_those_nobody_holds(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    conn.execute(
        "INSERT INTO learner_badges (learner_id, code, awarded_at) VALUES (?, 'streak-3', ?)", (_learner(conn), NOW)
    )
    first_only = BADGES.split('\n\n[[badge]]\ncode = "streak-3"')[0].replace("threshold = 1", "threshold = 2")
    report = import_folder(conn, content_folder(tmp_path, {"badges.toml": first_only}), settings)
    assert (report.badges.updated, report.badges_deleted) == (1, 0)
    rows = conn.execute("SELECT code, threshold FROM badge_definitions ORDER BY code").fetchall()
    assert [tuple(row) for row in rows] == [("first-lesson", 2), ("streak-3", 3)]
    conn.execute("DELETE FROM learner_badges")
    assert import_folder(conn, content_folder(tmp_path, {"badges.toml": first_only}), settings).badges_deleted == 1


def test_it_reports_progress_while_reading_and_importing(tmp_path, settings, conn):
    calls = []
    import_folder(conn, content_folder(tmp_path), settings, progress=lambda *args: calls.append(args))
    assert calls == [
        ("Reading courses", 1, 2),
        ("Reading courses", 2, 2),
        ("Importing courses", 1, 2),
        ("Importing courses", 2, 2),
    ]


def test_it_imports_the_real_content_folder(settings, conn):
    if not (REPO / "content" / "locales" / "en.toml").exists():
        pytest.skip("content/locales/en.toml is not written yet (conversation work)")
    report = import_folder(conn, REPO / "content", settings)
    assert report.courses.new >= 3 and report.lessons.new >= 18
    slugs = {row[0] for row in conn.execute("SELECT slug FROM courses")}
    assert {"mobile-money-safety", "mobile-money-safety-sw", "python-basics"} <= slugs
    assert (
        conn.execute("SELECT min(n) FROM (SELECT count(*) AS n FROM questions GROUP BY lesson_id)").fetchone()[0] >= 2
    )
    assert import_folder(conn, REPO / "content", settings).rows_changed == 0
