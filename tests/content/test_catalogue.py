"""The catalogue the engine reads: published content only, ids filled, and a version to cache it by."""

from __future__ import annotations

from coachbox.content.catalogue import catalogue_version, load_catalogue
from coachbox.content.importer import import_folder
from tests.content.folder import LESSON_TWO, content_folder


def test_it_loads_published_courses_lessons_and_questions_with_ids(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    catalogue = load_catalogue(conn)
    assert [c.slug for c in catalogue.courses] == ["money", "pesa"]
    money = catalogue.courses[0]
    assert money.id and all(lesson.id for lesson in money.lessons)
    assert [lesson.position for lesson in money.lessons] == [1, 2]
    assert [(q.position, q.kind, q.answer) for q in money.lessons[1].questions] == [
        (1, "choice", 1),
        (2, "short", ("PIN", "my PIN")),
    ]
    assert money.lessons[0].questions[0].answer is False
    assert [b.code for b in catalogue.badges] == ["first-lesson", "streak-3"]
    assert [c.slug for c in catalogue.for_language("sw")] == ["pesa"]
    conn.execute("UPDATE courses SET published = 0 WHERE slug = 'pesa'")
    conn.execute("UPDATE lessons SET published = 0 WHERE slug = 'what-is-mobile-money'")
    catalogue = load_catalogue(conn)
    assert [c.slug for c in catalogue.courses] == ["money"]
    assert [lesson.slug for lesson in catalogue.courses[0].lessons] == ["keep-your-pin-secret"]


def test_it_changes_the_version_only_when_content_changes(tmp_path, settings, conn):
    folder = content_folder(tmp_path)
    import_folder(conn, folder, settings)
    version = catalogue_version(conn)
    import_folder(conn, folder, settings)
    assert catalogue_version(conn) == version
    import_folder(
        conn,
        content_folder(
            tmp_path, {"courses/money/02-keep-your-pin-secret.md": LESSON_TWO.replace("Nobody else, ever.", "Nobody.")}
        ),
        settings,
    )
    changed = catalogue_version(conn)
    assert changed != version
    conn.execute("UPDATE questions SET prompt = 'Edited in the admin page' WHERE id = 1")
    assert catalogue_version(conn) != changed
