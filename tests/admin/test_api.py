"""The JSON API: bearer tokens (hashed, scoped, revocable), error objects, OpenAPI."""

from __future__ import annotations

import pytest

from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio


async def _token(client, role="viewer"):
    csrf = await signed_in(client, "alice@school.test")
    _, page = await client.post("/admin/tokens", data={"name": "reports", "role": role, "csrf_token": csrf})
    return page.text.split('readonly value="')[1].split('"')[0], csrf


async def test_it_serves_learners_and_courses_to_a_token(app, client, cast, conn):
    learner_id = add_learner(conn, name="Amina")
    token, _ = await _token(client)
    stored = conn.execute("SELECT token_hash FROM api_tokens").fetchone()[0]
    assert token not in stored  # only the hash is kept
    headers = {"Authorization": f"Bearer {token}"}
    _, response = await client.get("/api/v1/learners?q=ami", headers=headers)
    assert response.status_code == 200 and response.json["data"][0]["name"] == "Amina"
    _, response = await client.get(f"/api/v1/learners/{learner_id}", headers=headers)
    assert response.json["data"]["enrollments"] == []
    _, response = await client.get("/api/v1/courses", headers=headers)
    assert response.status_code == 200
    _, response = await client.get("/api/v1/learners/999", headers=headers)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


async def test_it_refuses_missing_revoked_and_underscoped_tokens(app, client, cast, conn):
    learner_id = add_learner(conn)
    _, response = await client.get("/api/v1/learners")
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    token, csrf = await _token(client, "viewer")
    headers = {"Authorization": f"Bearer {token}"}
    _, response = await client.post(f"/api/v1/learners/{learner_id}/messages", json={"body": "hi"}, headers=headers)
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    token_id = conn.execute("SELECT id FROM api_tokens").fetchone()[0]
    _, asked = await client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert asked.status_code == 200 and "Every program using it is refused at once" in asked.text
    _, response = await client.get("/api/v1/learners", headers=headers)
    assert response.status_code == 200  # asking first changes nothing
    await client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf, "confirm": "yes"})
    _, response = await client.get("/api/v1/learners", headers=headers)
    assert response.status_code == 401


async def test_it_queues_a_message_with_an_editor_token(app, client, cast, conn):
    learner_id = add_learner(conn)
    token, _ = await _token(client, "editor")
    _, response = await client.post(
        f"/api/v1/learners/{learner_id}/messages",
        json={"body": "Exam on Friday"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202
    assert (
        conn.execute("SELECT body FROM messages WHERE id = ?", (response.json["data"]["id"],)).fetchone()[0]
        == "Exam on Friday"
    )


async def test_it_publishes_an_openapi_document(app, client):
    _, response = await client.get("/api/v1/openapi.json")
    assert response.json["openapi"].startswith("3.") and "/learners/{id}/messages" in response.json["paths"]


def _course_with_lessons(conn, slug="api-course", lessons=3) -> tuple[int, list[int]]:
    stamp = "2026-03-01T00:00:00+00:00"
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES (?, 'en', 'API course', ?, ?)",
        (slug, stamp, stamp),
    ).lastrowid
    ids = [
        conn.execute(
            """INSERT INTO lessons (course_id, slug, position, title, body, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'body', ?, ?)""",
            (course, f"l{n}", n, f"Lesson {n}", stamp, stamp),
        ).lastrowid
        for n in range(1, lessons + 1)
    ]
    return course, ids


async def test_it_lists_enrollments_and_a_learners_progress_per_lesson(app, client, cast, conn):
    amina, baraka = add_learner(conn, name="Amina"), add_learner(conn, name="Baraka", phone="+254700000002")
    course, lessons = _course_with_lessons(conn)
    stamp = "2026-03-02T05:00:00+00:00"
    for learner, status in ((amina, "active"), (baraka, "completed")):
        conn.execute(
            "INSERT INTO enrollments (learner_id, course_id, status, started_at) VALUES (?, ?, ?, ?)",
            (learner, course, status, stamp),
        )
    conn.execute(
        """INSERT INTO progress (learner_id, lesson_id, delivered_at, completed_at, correct, total, passed)
                    VALUES (?, ?, ?, ?, 2, 3, 1)""",
        (amina, lessons[0], stamp, stamp),
    )
    conn.execute(
        "INSERT INTO progress (learner_id, lesson_id, delivered_at) VALUES (?, ?, ?)", (amina, lessons[1], stamp)
    )
    token, _ = await _token(client)
    headers = {"Authorization": f"Bearer {token}"}

    _, response = await client.get(f"/api/v1/enrollments?course={course}", headers=headers)
    assert response.status_code == 200 and response.json["total"] == 2
    first = response.json["data"][0]
    assert (first["learner_id"], first["course_slug"], first["completed_lessons"]) == (amina, "api-course", 1)
    _, response = await client.get("/api/v1/enrollments?status=completed", headers=headers)
    assert [e["learner_id"] for e in response.json["data"]] == [baraka]
    _, response = await client.get("/api/v1/enrollments?status=bogus", headers=headers)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"

    _, response = await client.get(f"/api/v1/learners/{amina}/progress", headers=headers)
    rows = response.json["data"]
    assert [(r["position"], r["passed"], r["completed_at"] is not None) for r in rows] == [
        (1, True, True),
        (2, False, False),
    ]
    _, response = await client.get("/api/v1/learners/999/progress", headers=headers)
    assert response.status_code == 404
    _, response = await client.get("/api/v1/openapi.json")
    assert {"/enrollments", "/learners/{id}/progress"} <= set(response.json["paths"])


async def test_numbers_past_sqlite_integers_get_the_api_error_object_not_a_500(app, client, cast, conn):
    add_learner(conn, name="Amina")
    token, _ = await _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    huge = "9" * 25
    for path in (f"/api/v1/learners/{huge}", f"/api/v1/learners/{huge}/messages", f"/api/v1/courses/{huge}"):
        _, response = await client.get(path, headers=headers)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found", path
    _, response = await client.get(f"/api/v1/learners?page={huge}", headers=headers)
    assert response.status_code == 200 and response.json["data"] == []  # a page past the end is empty
