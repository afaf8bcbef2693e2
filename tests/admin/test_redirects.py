"""Redirects after a POST carry ?done=<code> before any #fragment (after it, the browser never sends it, and the
confirmation never shows), and every code has its notice."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from coachbox.admin import pages
from tests.admin.conftest import signed_in

ADMIN = Path(pages.__file__).parent
pytestmark = pytest.mark.anyio


def _sample(node: ast.expr) -> str | None:
    """A URL like the one this expression makes at run time: f"/admin/lessons/{lesson_id}#quiz" → /admin/lessons/1#quiz."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "1" for part in node.values)
    return None  # a variable (a checked ?next= address): no fragment of ours


def _codes(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _codes(node.body) + _codes(node.orelse)
    if isinstance(node, ast.JoinedStr):  # f"{action}ed": publish/unpublish
        return ["published", "unpublished"]
    return []


def _redirects() -> list[tuple[str, int, str, list[str]]]:
    """(module, line, sample URL, done codes) of every back(…) and redirect(…) call in the admin pages."""
    found = []
    for path in sorted(ADMIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name not in ("back", "redirect"):
                continue
            url = _sample(node.args[0])
            done = _codes(node.args[1]) if name == "back" and len(node.args) > 1 else []
            if url is not None:
                found.append((path.stem, node.lineno, url, done))
    return found


def test_no_redirect_puts_its_query_after_the_fragment():
    redirects = _redirects()
    assert sum("#" in url for _, _, url, _ in redirects) >= 4  # the quiz editor's three, "Back up now"
    for module, line, url, codes in redirects:
        for done in codes or [None]:
            location = pages.back(url, done).headers["location"]
            before, _, fragment = location.partition("#")
            assert "?" not in fragment, f"admin/{module}.py:{line}: {location}"
            if done:
                assert before.endswith(f"done={done}"), f"admin/{module}.py:{line}: {location}"
                notices = {
                    **pages.NOTICES,
                    **getattr(importlib.import_module(f"coachbox.admin.{module}"), "NOTICES", {}),
                }
                assert done in notices, f"admin/{module}.py:{line}: no notice for done={done}"


def test_back_keeps_the_fragment_last():
    assert pages.back("/admin/lessons/3#quiz", "saved").headers["location"] == "/admin/lessons/3?done=saved#quiz"
    assert pages.back("/admin/x?page=2#y", "saved").headers["location"] == "/admin/x?page=2&done=saved#y"
    assert pages.back("/admin/x").headers["location"] == "/admin/x"


async def test_save_question_and_back_up_now_confirm_what_they_did(app, client, cast, conn):
    token = await signed_in(client, "alice@school.test")
    _, created = await client.post(
        "/admin/courses", data={"title": "Saving", "language": "en", "csrf_token": token}, follow_redirects=False
    )
    course_id = int(created.headers["location"].split("/")[3].split("?")[0])
    await client.post(f"/admin/courses/{course_id}/lessons", data={"title": "Why save?", "csrf_token": token})
    lesson_id = conn.execute("SELECT id FROM lessons WHERE course_id = ?", (course_id,)).fetchone()[0]
    question = {"kind": "true_false", "prompt": "Is saving weekly good?", "answer": "true", "csrf_token": token}
    _, saved = await client.post(f"/admin/lessons/{lesson_id}/questions", data=question, follow_redirects=False)
    assert saved.headers["location"] == f"/admin/lessons/{lesson_id}?done=saved#quiz"
    _, page = await client.get(saved.headers["location"])
    assert 'class="notice" role="status">Saved.<' in page.text

    _, backed_up = await client.post("/admin/operations/backups", data={"csrf_token": token}, follow_redirects=False)
    assert backed_up.headers["location"] == "/admin/operations?done=backup#backups"
    _, page = await client.get(backed_up.headers["location"])
    assert pages.NOTICES["backup"] in page.text


def test_a_browser_gets_errors_as_pages_and_programs_get_json(app):
    """404 and 403 to a browser are pages in words with a way back; the API and webhooks keep their JSON."""
    page = {"accept": "text/html,application/xhtml+xml"}
    _, response = app.test_client.get("/no/such/page", headers=page)
    assert response.status == 404 and response.content_type.startswith("text/html")
    assert "Not found" in response.text and "There is no such page" in response.text and "/admin/" in response.text
    _, response = app.test_client.get("/no/such/page", headers={"accept": "application/json"})
    assert response.status == 404 and response.json["error"]
    _, response = app.test_client.get("/api/v1/learners", headers=page)
    assert response.content_type.startswith("application/json")
    _, response = app.test_client.get("/", headers=page)  # the box's address leads to the admin (sign-in first)
    assert response.status == 200 and "/admin/login" in str(response.url)
