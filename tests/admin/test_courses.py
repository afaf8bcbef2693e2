"""Courses: create, edit lessons with preview and counter, quiz editor, publish, reorder, media upload."""

from __future__ import annotations

import pytest

from tests.admin.conftest import signed_in

pytestmark = pytest.mark.anyio
XSS = "<script>alert(1)</script>"


async def _course_with_lessons(client, token, conn, n=2, title="Digital money"):
    _, response = await client.post(
        "/admin/courses", data={"title": title, "language": "en", "csrf_token": token}, follow_redirects=False
    )
    course_id = int(response.headers["location"].split("/")[3].split("?")[0])
    for i in range(n):
        await client.post(f"/admin/courses/{course_id}/lessons", data={"title": f"Lesson {i + 1}", "csrf_token": token})
    ids = [r[0] for r in conn.execute("SELECT id FROM lessons WHERE course_id = ? ORDER BY position", (course_id,))]
    return course_id, ids


async def test_it_creates_a_course_and_edits_a_lesson(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    course_id, (lesson_id, _) = await _course_with_lessons(client, token, conn)
    _, response = await client.post(
        f"/admin/lessons/{lesson_id}",
        data={
            "title": "What is *mobile money*?",
            "minutes": "4",
            "body": "*Hello* learners.\n\n- one\n- two",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    row = conn.execute("SELECT title, body, minutes FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
    assert row["minutes"] == 4 and row["body"].startswith("*Hello*")
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    assert 'data-limit="1600"' in page.text and "1 message" in page.text
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'lesson.%'").fetchone()[0] == 3


async def test_it_counts_long_bodies_into_several_messages(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    _, (lesson_id, _) = await _course_with_lessons(client, token, conn)
    body = "\n\n".join(["word " * 150] * 5)
    await client.post(
        f"/admin/lessons/{lesson_id}", data={"title": "Long", "minutes": "5", "body": body, "csrf_token": token}
    )
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    assert "counter over" in page.text and "3 messages" in page.text


async def test_it_escapes_lesson_titles_and_bodies(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    course_id, (lesson_id, _) = await _course_with_lessons(client, token, conn, title=XSS)
    await client.post(
        f"/admin/lessons/{lesson_id}", data={"title": XSS, "minutes": "5", "body": XSS, "csrf_token": token}
    )
    for path in ("/admin/courses", f"/admin/courses/{course_id}", f"/admin/lessons/{lesson_id}"):
        _, page = await client.get(path)
        assert "<script>alert(1)" not in page.text, path


async def test_it_edits_the_quiz(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    _, (lesson_id, _) = await _course_with_lessons(client, token, conn)
    _, bad = await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={"kind": "choice", "prompt": "Which?", "choices": "only one", "answer": "3", "csrf_token": token},
    )
    assert bad.status_code == 400 and "at least two choices" in bad.text
    await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={
            "kind": "choice",
            "prompt": "Who may know your PIN?",
            "choices": "Agent\nNobody\nFamily",
            "answer": "2",
            "explanation": "Nobody.",
            "csrf_token": token,
        },
    )
    await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={"kind": "short", "prompt": "Say the word", "answer": "pin\nPIN number", "csrf_token": token},
    )
    rows = conn.execute(
        "SELECT id, kind, choices, answer FROM questions WHERE lesson_id = ? ORDER BY position", (lesson_id,)
    ).fetchall()
    assert [(r["kind"], r["answer"]) for r in rows] == [("choice", "2"), ("short", '["pin", "PIN number"]')]
    await client.post(
        f"/admin/questions/{rows[0]['id']}",
        data={"kind": "true_false", "prompt": "Share your PIN?", "answer": "false", "csrf_token": token},
    )
    assert conn.execute("SELECT answer FROM questions WHERE id = ?", (rows[0]["id"],)).fetchone()[0] == "false"
    # Removing asks first (what happens to the quiz and to answers given), and only the second step removes.
    _, asked = await client.post(f"/admin/questions/{rows[1]['id']}", data={"delete": "1", "csrf_token": token})
    assert asked.status_code == 200 and "Remove this question?" in asked.text and "learners who take it" in asked.text
    assert "Nobody has answered it yet: it is deleted." in asked.text
    assert conn.execute("SELECT COUNT(*) FROM questions WHERE lesson_id = ?", (lesson_id,)).fetchone()[0] == 2
    await client.post(f"/admin/questions/{rows[1]['id']}", data={"delete": "1", "confirm": "yes", "csrf_token": token})
    assert conn.execute("SELECT COUNT(*) FROM questions WHERE lesson_id = ?", (lesson_id,)).fetchone()[0] == 1


async def test_the_lesson_editor_says_how_many_right_answers_pass(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    course_id, (lesson_id, _) = await _course_with_lessons(client, token, conn)
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    assert "right to pass" not in page.text  # no questions yet
    for n in range(3):
        await client.post(
            f"/admin/lessons/{lesson_id}/questions",
            data={"kind": "true_false", "prompt": f"Statement {n}", "answer": "true", "csrf_token": token},
        )
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    assert "<strong>2 of 3 right to pass</strong>" in page.text and "pass mark of 70 %" in page.text
    await client.post(
        f"/admin/courses/{course_id}",
        data={"title": "Digital money", "passing_score": "100", "csrf_token": token},
    )
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    assert "<strong>3 of 3 right to pass</strong>" in page.text


async def test_it_publishes_and_reorders(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    course_id, (first, second) = await _course_with_lessons(client, token, conn)
    assert conn.execute("SELECT published FROM courses WHERE id = ?", (course_id,)).fetchone()[0] == 0
    await client.post(f"/admin/courses/{course_id}/publish", data={"csrf_token": token})
    assert conn.execute("SELECT published FROM courses WHERE id = ?", (course_id,)).fetchone()[0] == 1
    await client.post(f"/admin/lessons/{second}/move", data={"direction": "up", "csrf_token": token})
    order = [r[0] for r in conn.execute("SELECT id FROM lessons WHERE course_id = ? ORDER BY position", (course_id,))]
    assert order == [second, first]


async def test_it_checks_uploaded_media(app, client, cast, conn, settings):
    token = await signed_in(client, "bob@school.test")
    _, (lesson_id, _) = await _course_with_lessons(client, token, conn)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    for name, body in (("../../evil.png", png), ("..png", png), ("fake.png", b"GIF89a"), ("x.exe", b"MZ")):
        _, response = await client.post(
            f"/admin/lessons/{lesson_id}/media", data={"csrf_token": token}, files={"media": (name, body, "image/png")}
        )
        assert response.status_code == 400, name
    assert not (settings.data_dir / "evil.png").exists()
    _, ok = await client.post(
        f"/admin/lessons/{lesson_id}/media",
        data={"csrf_token": token},
        files={"media": ("pin.png", png, "image/png")},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    media = conn.execute("SELECT media FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0]
    assert media.endswith("/pin.png") and (settings.data_dir / "media" / media).read_bytes() == png
    assert ok.headers["location"].endswith("done=saved")
    # Saved all the same, with a word about learners' data bundles (the content import warns at the same size).
    _, heavy = await client.post(
        f"/admin/lessons/{lesson_id}/media",
        data={"csrf_token": token},
        files={"media": ("map.png", png + b"0" * 400_000, "image/png")},
        follow_redirects=False,
    )
    assert heavy.status_code == 303 and heavy.headers["location"].endswith("done=saved_heavy")
    _, page = await client.get(heavy.headers["location"])
    assert "prepaid data" in page.text


async def test_it_lets_viewers_read_but_not_edit_courses(app, client, cast, conn):
    editor = type(client)(app)
    token = await signed_in(editor, "bob@school.test")
    course_id, (lesson_id, _) = await _course_with_lessons(editor, token, conn)
    viewer_token = await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    assert page.status_code == 200 and "Save lesson" not in page.text
    _, response = await client.post(
        f"/admin/lessons/{lesson_id}", data={"title": "x", "minutes": "1", "body": "", "csrf_token": viewer_token}
    )
    assert response.status_code == 403
    _, response = await client.post("/admin/courses", data={"title": "x", "language": "en", "csrf_token": viewer_token})
    assert response.status_code == 403
