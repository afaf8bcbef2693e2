"""Browser test: edit a lesson and a question without losing anything typed.

Playwright drives Debian's Chromium (the setup of test_browser.py) against a real `coachbox serve` on the test
clock. A rejected question comes back with what was typed and its error beside the field, in view; the lesson text
typed but not saved survives saving a question (the page keeps it in the browser and puts it back); leaving the page
with unsaved changes asks first; saving the lesson does not.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from coachbox import store
from coachbox.admin.passwords import hash_password
from coachbox.content.importer import import_folder
from coachbox.core.config import Settings
from tests import processes
from tests.browser import ARGS, CHROMIUM, box_environ, free_port, needs_chromium, prepared_box, serve
from tests.conftest import REPO, clock_environ

PASSWORD = "editor's long password"
EMAIL = "editor@school.test"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]


@pytest.fixture
def server(tmp_path, run_instant):
    """`coachbox serve` with the courses imported and an editor account; (base URL, database path)."""
    data = tmp_path / "data"
    conn = prepared_box(data)  # what `coachbox init` does: the schema and the courses
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'editor', ?)",
        (EMAIL, hash_password(PASSWORD), run_instant.isoformat()),
    )
    conn.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **box_environ(data), "COACHBOX_SERVER_PUBLIC_URL": base, **clock_environ(run_instant)}
    proc = serve(port, env, tmp_path / "serve.log")
    yield base, data / "coachbox.db"
    processes.stop(proc)


@pytest.fixture
def page():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        opened = chromium.new_page(viewport={"width": 1366, "height": 900})
        opened.set_default_timeout(10_000)
        yield opened
        chromium.close()


def test_edit_a_lesson_and_a_question(server, page):
    base, db_path = server
    conn = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    lesson_id, saved_body = conn.execute(
        "SELECT l.id, l.body FROM lessons l JOIN courses c ON c.id = l.course_id "
        "WHERE c.slug = 'mobile-money-safety' AND l.position = 1"
    ).fetchone()
    questions = conn.execute("SELECT COUNT(*) FROM questions WHERE lesson_id = ?", (lesson_id,)).fetchone()[0]

    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")
    page.goto(f"{base}/admin/lessons/{lesson_id}")
    expect(page.locator("#sequence")).to_contain_text("Lesson 1 of 7")  # the day as the engine sends it

    # Lesson text typed, not saved: the page says so and shows it as the learner would see it.
    typed = saved_body + "\n\n*New:* never send money back to a stranger."
    page.get_by_label("Body").fill(typed)
    expect(page.locator("#unsaved-mark")).to_be_visible()
    expect(page.locator("#preview strong").last).to_have_text("New:")

    # A multiple-choice question with no right choice picked is refused: what was typed is all still there, the
    # error is beside the choices and in view (the page opens at the form), and the lesson text came back too.
    new = page.locator("#add-question")
    new.get_by_label("Multiple choice").check()
    new.get_by_label("Question").fill("Someone sends you money by mistake and asks for it back. What do you do?")
    new.get_by_label("Choice A", exact=True).fill("Send it back at once")
    new.get_by_label("Choice B", exact=True).fill("Ask your provider to reverse it")
    new.get_by_label("Explanation").fill("Only the provider can check the transaction.")
    new.get_by_role("button", name="Add question").click()
    page.wait_for_url(f"**/admin/lessons/{lesson_id}/questions#add-question")
    new = page.locator("#add-question")
    error = new.locator("#new-right-err")
    expect(error).to_have_text("Pick the right choice: click its letter.")
    expect(error).to_be_in_viewport()
    expect(new.get_by_label("Choice A", exact=True)).to_have_value("Send it back at once")
    expect(new.get_by_label("Choice B", exact=True)).to_have_value("Ask your provider to reverse it")
    expect(new.get_by_label("Question")).to_have_value(
        "Someone sends you money by mistake and asks for it back. What do you do?"
    )
    expect(new.get_by_label("Explanation")).to_have_value("Only the provider can check the transaction.")
    expect(page.get_by_label("Body")).to_have_value(typed)
    expect(page.locator("#draft-note")).to_be_visible()
    assert conn.execute("SELECT COUNT(*) FROM questions WHERE lesson_id = ?", (lesson_id,)).fetchone()[0] == questions

    # Pick the right one by clicking it, and save: the question is saved, the lesson text typed earlier still waits.
    new.locator("label.right-mark").nth(1).click()
    new.get_by_role("button", name="Add question").click()
    page.wait_for_url(f"**/admin/lessons/{lesson_id}?done=saved#quiz")
    row = conn.execute(
        "SELECT choices, answer FROM questions WHERE lesson_id = ? ORDER BY position DESC LIMIT 1", (lesson_id,)
    ).fetchone()
    assert row == ('["Send it back at once", "Ask your provider to reverse it"]', "2")
    expect(page.get_by_label("Body")).to_have_value(typed)
    assert conn.execute("SELECT body FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0] == saved_body

    # Leaving with unsaved changes asks first; staying keeps everything.
    dialogs: list[str] = []

    def stay(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("link", name="← Mobile Money Safety").click()
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert f"/admin/lessons/{lesson_id}" in page.url
    expect(page.get_by_label("Body")).to_have_value(typed)

    # Saving the lesson neither asks nor leaves a draft behind.
    page.get_by_role("button", name="Save lesson").click()
    page.wait_for_url(f"**/admin/lessons/{lesson_id}?done=saved#lesson-form")  # the form stays in view
    assert conn.execute("SELECT body FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0] == typed.strip()
    expect(page.locator("#draft-note")).to_be_hidden()
    expect(page.locator("#unsaved-mark")).to_be_hidden()
    assert dialogs == ["beforeunload"]
    conn.close()
