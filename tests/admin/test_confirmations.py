"""Actions that are hard to undo ask first, without JavaScript: moving a learner to another course (which keeps
the old enrolment's history and switches the learner to the course's language), unpublishing a course, disabling
an admin. The first POST shows what will happen; only the form on that page does it."""

from __future__ import annotations

import re
from html import unescape

import pytest

from coachbox.channels.base import Inbound
from coachbox.content.importer import import_folder
from coachbox.turns.runner import handle_inbound
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio


def _course(conn, slug: str) -> int:
    return conn.execute("SELECT id FROM courses WHERE slug = ?", (slug,)).fetchone()[0]


def _confirm_form(html: str) -> tuple[str, dict[str, str]]:
    """The confirmation page's form, as a browser without JavaScript would submit it."""
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*id="confirm-form">(.*?)</form>', html, re.S)
    assert form, "no confirmation form"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)))
    return unescape(form.group(1)), {k: unescape(v) for k, v in fields.items()}


def _what_happens(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.search(r"<ul id=\"what\">(.*?)</ul>", html, re.S).group(1)))


@pytest.fixture
def studying(conn, settings):
    """Amina, two lessons into Mobile Money Safety (English), with her answers."""
    import_folder(conn, settings.content_dir, settings, progress=None)
    learner_id = add_learner(conn, name="Amina")
    money = _course(conn, "mobile-money-safety")
    conn.execute("UPDATE learners SET current_course_id = ? WHERE id = ?", (money, learner_id))
    conn.execute(
        """INSERT INTO enrollments (learner_id, course_id, next_position, started_at)
           VALUES (?, ?, 3, '2026-02-01T00:00:00+00:00')""",
        (learner_id, money),
    )
    for lesson_id in [
        r[0] for r in conn.execute("SELECT id FROM lessons WHERE course_id = ? AND position <= 2", (money,))
    ]:
        conn.execute(
            """INSERT INTO progress (learner_id, lesson_id, delivered_at, completed_at, correct, total, passed)
               VALUES (?, ?, '2026-02-01', '2026-02-01', 2, 3, 1)""",
            (learner_id, lesson_id),
        )
    question = conn.execute(
        "SELECT q.id FROM questions q JOIN lessons l ON l.id = q.lesson_id WHERE l.course_id = ?", (money,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) VALUES (?, ?, 'b', 1, '2026-02-01')",
        (learner_id, question),
    )
    return learner_id


def _enrolments(conn, learner_id) -> dict[str, tuple[str, int]]:
    return {
        r["slug"]: (r["status"], r["next_position"])
        for r in conn.execute(
            "SELECT c.slug, e.status, e.next_position FROM enrollments e JOIN courses c ON c.id = e.course_id "
            "WHERE e.learner_id = ?",
            (learner_id,),
        )
    }


async def test_moving_a_learner_says_what_happens_and_keeps_the_old_enrolment(
    app, client, cast, conn, studying, services, clock
):
    token = await signed_in(client, "bob@school.test")
    python = _course(conn, "python-basics")
    _, asked = await client.post(
        f"/admin/learners/{studying}/move", data={"course_id": str(python), "csrf_token": token}
    )
    assert asked.status_code == 200 and "Move Amina to Python Basics?" in asked.text
    said = _what_happens(asked.text)
    assert "Amina's enrolment in Mobile Money Safety is kept with its history: 2 of 7 lessons done" in said
    assert "if they choose it again (COURSES), they carry on where they were" in said
    assert "They start Python Basics at its first lesson" in said and "Their language stays English" in said
    assert _enrolments(conn, studying) == {"mobile-money-safety": ("active", 3)}  # nothing done yet

    action, fields = _confirm_form(asked.text)
    _, moved = await client.post(action, data=fields, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/admin/learners/{studying}?done=moved"
    assert _enrolments(conn, studying) == {"mobile-money-safety": ("dropped", 3), "python-basics": ("active", 1)}
    assert conn.execute("SELECT COUNT(*) FROM progress WHERE learner_id = ?", (studying,)).fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM answers WHERE learner_id = ?", (studying,)).fetchone()[0] == 1
    _, page = await client.get(moved.headers["location"])
    assert "Mobile Money Safety: 2 of 7 lessons, dropped" in page.text

    # To the Kiswahili course: the learner's language follows the course's, and the page says so first.
    swahili = _course(conn, "mobile-money-safety-sw")
    _, asked = await client.post(
        f"/admin/learners/{studying}/move", data={"course_id": str(swahili), "csrf_token": token}
    )
    assert "Their language changes from English to Kiswahili, the course's" in _what_happens(asked.text)
    action, fields = _confirm_form(asked.text)
    await client.post(action, data=fields)
    assert conn.execute("SELECT language FROM learners WHERE id = ?", (studying,)).fetchone()[0] == "sw"

    # Back to the first course, by the learner's own COURSES: where they were, active again.
    conn.execute("UPDATE learners SET language = 'en' WHERE id = ?", (studying,))
    await handle_inbound(
        services,
        Inbound("whatsapp", "whatsapp:+254700000001", "COURSES mobile money safety", "SM-back-1", clock.now()),
    )
    assert _enrolments(conn, studying)["mobile-money-safety"] == ("active", 3)
    audit = conn.execute("SELECT detail FROM audit_log WHERE action = 'learner.move' ORDER BY id").fetchall()
    assert len(audit) == 2 and '"from_course_id"' in audit[0][0]


async def test_unpublishing_a_course_asks_first(app, client, cast, conn, studying):
    token = await signed_in(client, "bob@school.test")
    money = _course(conn, "mobile-money-safety")
    _, asked = await client.post(f"/admin/courses/{money}/unpublish", data={"csrf_token": token})
    assert asked.status_code == 200 and "Unpublish Mobile Money Safety?" in asked.text
    said = _what_happens(asked.text)
    assert "1 learner has it as their current course" in said and "Nothing is deleted" in said
    assert conn.execute("SELECT published FROM courses WHERE id = ?", (money,)).fetchone()[0] == 1
    action, fields = _confirm_form(asked.text)
    _, done = await client.post(action, data=fields, follow_redirects=False)
    assert done.headers["location"] == f"/admin/courses/{money}?done=unpublished"
    assert conn.execute("SELECT published FROM courses WHERE id = ?", (money,)).fetchone()[0] == 0
    _, again = await client.post(f"/admin/courses/{money}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303  # publishing needs no second step


async def test_disabling_an_admin_asks_first(app, client, cast, conn):
    token = await signed_in(client, "alice@school.test")
    bob = cast["bob@school.test"]
    _, asked = await client.post(f"/admin/users/{bob}/disable", data={"csrf_token": token})
    assert asked.status_code == 200 and "Disable bob@school.test?" in asked.text
    assert "is signed out at once" in _what_happens(asked.text)
    assert conn.execute("SELECT disabled FROM admins WHERE id = ?", (bob,)).fetchone()[0] == 0
    action, fields = _confirm_form(asked.text)
    _, done = await client.post(action, data=fields, follow_redirects=False)
    assert done.status_code == 303
    assert conn.execute("SELECT disabled FROM admins WHERE id = ?", (bob,)).fetchone()[0] == 1
    _, enabled = await client.post(f"/admin/users/{bob}/enable", data={"csrf_token": token}, follow_redirects=False)
    assert enabled.status_code == 303
    assert conn.execute("SELECT disabled FROM admins WHERE id = ?", (bob,)).fetchone()[0] == 0
