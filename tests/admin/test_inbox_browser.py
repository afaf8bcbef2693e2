"""Browser test of the teacher's inbox (issue #17): a learner on the simulator sends TEACHER, the teacher sees the
conversation arrive on the open inbox page without a reload (and the menu's count on every open page), replies,
the learner's phone shows the answer; outside the 24-hour window the page offers the template and the reply goes as
it; closing it gives the learner back to the bot.

Playwright drives Debian's Chromium (the setup of test_browser.py) against a real `coachbox serve` on a test clock
(COACHBOX_TEST_NOW at DAYTIME); two tabs of one signed-in teacher: the inbox, and the simulator as the learner's
phone. The web process's own sender sends the replies, and its live feeds carry them to the open pages.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from coachbox import store
from coachbox.admin.passwords import hash_password
from coachbox.content.importer import import_folder
from coachbox.core.config import Settings
from tests import processes
from tests.browser import ARGS, CHROMIUM, box_environ, free_port, needs_chromium, prepared_box, serve
from tests.conftest import DAYTIME, REPO, clock_environ

PASSWORD = "teacher's long password"
PHONE = "+254711000444"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]


@pytest.fixture
def server(tmp_path):
    """`coachbox serve` (the web process only) on a free port, with an editor; (base URL, database path)."""
    data = tmp_path / "data"
    conn = prepared_box(data)  # what `coachbox init` does: the schema and the courses
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'editor', ?)",
        ("teacher@school.test", hash_password(PASSWORD), "2026-03-01T00:00:00+00:00"),
    )
    conn.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **box_environ(data),
        "COACHBOX_SERVER_PUBLIC_URL": base,
        "COACHBOX_TWILIO_TEMPLATES": '{"admin": "HXadmin"}',  # a teacher's reply outside the 24-hour window
        **clock_environ(DAYTIME),
    }
    proc = serve(port, env, tmp_path / "serve.log")
    yield base, data / "coachbox.db"
    processes.stop(proc)


@pytest.fixture
def context():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        opened = chromium.new_context(viewport={"width": 1100, "height": 900})
        opened.set_default_timeout(10_000)
        yield opened
        chromium.close()  # before the server stops: it waits for open live connections


def test_a_learner_asks_for_a_teacher_who_answers_from_the_live_inbox_and_closes(server, context):
    base, db_path = server
    inbox = context.new_page()
    inbox.goto(f"{base}/admin/login")
    inbox.get_by_label("Email").fill("teacher@school.test")
    inbox.get_by_label("Password").fill(PASSWORD)
    inbox.get_by_role("button", name="Sign in").click()
    inbox.wait_for_url(f"{base}/admin/")
    inbox.goto(f"{base}/admin/inbox")
    expect(inbox.get_by_text("no open conversations")).to_be_visible()

    courses = context.new_page()  # a page with no live part of its own: only its menu's count is live
    courses.goto(f"{base}/admin/courses")
    expect(courses.locator("#inbox-count b")).to_have_text("0")

    phone = context.new_page()  # the learner's phone: the simulator, in a second tab
    phone.goto(f"{base}/admin/simulator?phone={PHONE.replace('+', '%2B')}")
    chat = phone.locator("#sim-chat")

    def say(text: str, answer: str | None = None) -> None:
        before = chat.locator(".bubble.in").count()
        phone.get_by_label("Your message").fill(text)
        phone.get_by_role("button", name="Send").click()
        if answer is None:
            expect(chat.locator(".bubble.in")).not_to_have_count(before)  # some answer from the bot
        else:
            expect(chat.locator(".bubble.in", has_text=answer)).to_have_count(1)

    say("hi", "Welcome to")
    say("yes", "Which language")
    say("1", "Which course")
    say("1", "What time should your daily lesson arrive?")
    say("7", "Question 1/3")
    say("TEACHER")

    # The open inbox shows the conversation by itself (its live stream), and the menu counts it.
    row = inbox.locator(".inbox-row", has_text="Test Learner")
    expect(row).to_have_count(1, timeout=15_000)
    expect(row).to_contain_text("asked for a teacher")
    expect(inbox.locator("#inbox-count b")).to_have_text("1")
    # The menu's count follows on every page: one with a stream of its own (the simulator) and one without.
    expect(phone.locator("#inbox-count b")).to_have_text("1")
    expect(courses.locator("#inbox-count b")).to_have_text("1")

    row.get_by_role("link").click()
    inbox.get_by_label("Your reply").fill("Hello, I am Mr Otieno. How can I help?")
    inbox.get_by_role("button", name="Send reply").click()
    expect(inbox.get_by_text("Reply queued")).to_be_visible()
    expect(chat.locator(".bubble.in", has_text="I am Mr Otieno")).to_have_count(1, timeout=15_000)

    # Outside WhatsApp's 24-hour window the template path is offered: the learner as if on WhatsApp, last
    # writing 25 hours ago; the page says so before sending, the button changes, and the reply goes as the template.
    conn = sqlite3.connect(db_path, timeout=10)
    [(learner_id, sim_key, wrote)] = conn.execute("SELECT id, channel_key, last_inbound_at FROM learners").fetchall()
    long_ago = (datetime.fromisoformat(DAYTIME) - timedelta(hours=25)).isoformat()
    with conn:
        conn.execute(
            "UPDATE learners SET channel_key = ?, last_inbound_at = ? WHERE id = ?",
            (f"whatsapp:{PHONE}", long_ago, learner_id),
        )
    inbox.reload()
    expect(inbox.locator("#window-says")).to_contain_text("24-hour window is closed")
    expect(inbox.locator("#window-says")).to_contain_text("approved template HXadmin")
    inbox.get_by_label("Your reply").fill("Your fee is recorded; see you in class.")
    inbox.get_by_role("button", name="Send in the template").click()
    expect(inbox.get_by_text("Reply queued inside the approved template")).to_be_visible()
    sent = _wait_for(
        conn,
        "SELECT template_key, content_sid, status FROM messages WHERE body LIKE 'Your fee is recorded%' "
        "AND content_sid IS NOT NULL",
    )
    assert sent == ("admin", "HXadmin", "sent")
    with conn:  # back on the simulator, inside the window, for the rest of the story
        conn.execute(
            "UPDATE learners SET channel_key = ?, last_inbound_at = ? WHERE id = ?", (sim_key, wrote, learner_id)
        )
    conn.close()
    inbox.reload()
    expect(inbox.get_by_role("button", name="Send reply")).to_be_visible()

    inbox.get_by_role("button", name="Close conversation").click()
    expect(inbox.get_by_text("Conversation closed")).to_be_visible()
    conn = sqlite3.connect(db_path, timeout=10)
    [(status,)] = conn.execute("SELECT status FROM handovers").fetchall()
    [(back,)] = conn.execute(
        "SELECT body FROM messages WHERE kind = 'reply' AND direction = 'out' ORDER BY id DESC LIMIT 1"
    ).fetchall()
    conn.close()
    assert status == "closed"
    expect(chat.locator(".bubble.in", has_text=back.splitlines()[0][:40])).to_have_count(1, timeout=15_000)
    say("help", "talk to a teacher (a person)")  # the bot answers again: its HELP menu
    expect(courses.locator("#inbox-count b")).to_have_text("0")


def _wait_for(conn: sqlite3.Connection, sql: str, seconds: float = 15.0) -> tuple:
    """The first row of `sql` once there is one (the web process's sender sends within a second or so)."""
    deadline = time.monotonic() + seconds
    while (row := conn.execute(sql).fetchone()) is None:
        assert time.monotonic() < deadline, f"no row for {sql}"
        time.sleep(0.2)
    return row
