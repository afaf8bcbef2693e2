"""Browser test: the simulator page shows what the box sends its test learner later, live, without a reload.

Playwright drives Debian's Chromium (the setup of test_browser.py) against a real `coachbox serve` on a test clock
(COACHBOX_TEST_NOW at DAYTIME, so nothing is held for quiet hours). The tutor's answer is made by the worker: here
the box's task consumer on threads of this test process (jobs.inprocess, as `coachbox chat` runs it), taking the
task the server queued; the server's sender sends the row and its live feed carries it to the open page.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from coachbox import store
from coachbox.admin.passwords import hash_password
from coachbox.content.importer import import_folder
from coachbox.core.clock import clock_from_environment
from coachbox.core.config import Settings
from coachbox.jobs.inprocess import InProcessWorker
from coachbox.jobs.queue import create_huey
from coachbox.roots.services import build_services
from tests import processes
from tests.browser import ARGS, CHROMIUM, box_environ, free_port, needs_chromium, prepared_box, serve
from tests.conftest import DAYTIME, REPO, clock_environ

PASSWORD = "editor's long password"
PHONE = "+254711000333"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]


@pytest.fixture
def server(tmp_path):
    """`coachbox serve` (the web process only: no worker) on a free port; (base URL, data folder, clock env)."""
    data, clock = tmp_path / "data", clock_environ(DAYTIME)
    conn = prepared_box(data)  # what `coachbox init` does: the schema and the courses
    conn.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **box_environ(data), "COACHBOX_SERVER_PUBLIC_URL": base, **clock}
    output = tmp_path / "serve.log"
    proc = serve(port, env, output)
    yield base, data, clock
    processes.stop(proc)  # the server and every worker it spawned


@pytest.fixture
def page():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        opened = chromium.new_page(viewport={"width": 1100, "height": 900})
        opened.set_default_timeout(10_000)
        yield opened
        chromium.close()  # before the server stops: it waits for open live connections


def test_it_shows_the_tutors_answer_on_the_open_simulator_page_when_the_worker_makes_it(server, page):
    base, data, clock = server
    conn = sqlite3.connect(data / "coachbox.db", timeout=10, isolation_level=None)
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'editor', ?)",
        ("teacher@school.test", hash_password(PASSWORD), "2026-03-01T00:00:00+00:00"),
    )
    conn.close()

    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill("teacher@school.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")
    page.goto(f"{base}/admin/simulator?phone={PHONE.replace('+', '%2B')}")
    chat = page.locator("#sim-chat")

    def say(text: str, answer: str) -> None:
        page.get_by_label("Your message").fill(text)
        page.get_by_role("button", name="Send").click()
        expect(chat.locator(".bubble.in", has_text=answer)).to_have_count(1)  # once: the reply and the feed agree

    say("hi", "Welcome to")
    say("yes", "Which language")
    say("1", "Which course")
    say("1", "What time should your daily lesson arrive?")
    say("7", "Question 1/3")  # lean days: the lesson ends with the quiz's first question
    say("ask is Airtel Money safe too?", "the answer comes in a moment")
    assert chat.locator(".bubble.in", has_text="From your lesson").count() == 0  # no worker yet

    # The worker starts and takes the queued tutor.answer task; the page, left open, shows the answer when sent.
    settings = Settings.load(REPO / "coachbox.toml", box_environ(data))
    huey = create_huey(settings)
    worker = InProcessWorker(
        huey,
        settings,
        lambda s: build_services(s, clock=clock_from_environment(clock)),
        periodic=False,
    )
    worker.start()
    try:
        answer = chat.locator(".bubble.in", has_text="From your lesson")
        expect(answer).to_have_count(1, timeout=15_000)  # the server's sender polls every 5 s for others' rows
        assert answer.locator(".meta").first.inner_text().endswith("· tutor")  # from the live feed (the POST had none)
    finally:
        worker.stop()
        huey.storage.close()
