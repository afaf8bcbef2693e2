"""Browser tests: take a learner through a whole course in the simulator with time travel (to the certificate), and
enrol one learner and a CSV; both pages fit a 390 px phone without sideways scrolling.

Playwright drives Debian's Chromium (tests/browser.py) against a real `coachbox serve` on a test clock
(COACHBOX_TEST_NOW at DAYTIME: 08:00 in Nairobi, so lessons go out). Screenshots go to $COACHBOX_SHOTS when set.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from coachbox import store
from coachbox.admin.passwords import hash_password
from coachbox.content.importer import import_folder
from coachbox.core.config import Settings
from tests import processes
from tests.browser import ARGS, CHROMIUM, box_environ, free_port, needs_chromium, prepared_box, serve
from tests.conftest import DAYTIME, REPO, clock_environ

PASSWORD = "editor's long password"
PHONE = "+15550100007"
SHOTS = os.environ.get("COACHBOX_SHOTS", "")

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


@pytest.fixture
def server(tmp_path):
    """`coachbox serve` (the web process only) on a free port, with the content imported and an editor."""
    data, clock = tmp_path / "data", clock_environ(DAYTIME)
    conn = prepared_box(data)  # what `coachbox init` does: the schema and the courses
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'editor', ?)",
        ("teacher@school.test", hash_password(PASSWORD), "2026-03-01T00:00:00+00:00"),
    )
    conn.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **box_environ(data), "COACHBOX_SERVER_PUBLIC_URL": base, **clock}
    proc = serve(port, env, tmp_path / "serve.log")
    yield base, data
    processes.stop(proc)


@pytest.fixture
def page():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        opened = chromium.new_page(viewport={"width": 1366, "height": 900})
        opened.set_default_timeout(10_000)
        # A message still queued when the page reloads comes on the live feed once the server's sender sends it
        # (it polls every 5 s for rows another request wrote): give that time on a busy machine.
        expect.set_options(timeout=15_000)
        yield opened
        expect.set_options(timeout=5_000)  # Playwright's default again, for the tests after these
        chromium.close()  # before the server stops: it waits for open live connections


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill("teacher@school.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")


def _fits(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_it_takes_a_learner_through_a_whole_course_with_time_travel_to_the_certificate(server, page):
    base, data = server
    _sign_in(page, base)
    page.goto(f"{base}/admin/simulator?phone={PHONE.replace('+', '%2B')}")
    chat = page.locator("#sim-chat")
    # The phone is phone-shaped, not a full-width strip.
    assert page.locator(".phone").bounding_box()["width"] <= 400

    def say(text: str, answer: str) -> None:
        page.get_by_label("Your message").fill(text)
        page.get_by_role("button", name="Send", exact=True).click()
        expect(chat.locator(".bubble.in", has_text=answer).last).to_be_visible()

    say("hi", "Welcome to")
    say("Amina", "Which language")
    say("1", "Which course")
    say("1", "What time should your daily lesson arrive?")
    say("7", "Lesson 1 of 7")
    # WhatsApp formatting: the lesson's title is bold, not *starred*.
    expect(chat.locator(".bubble.in strong", has_text="What is mobile money?").first).to_be_visible()

    page.get_by_role("button", name="Go to the next lesson time").click()
    expect(page.locator("#sim-outcome")).to_contain_text("now at their next lesson time")
    expect(chat.locator(".bubble.in", has_text="Lesson 2 of 7")).to_have_count(1)
    expect(page.locator("#sim-coming")).to_contain_text("lesson 3 of 7 next")
    # The chat opens at the newest message.
    at_bottom = "el => Math.abs(el.scrollHeight - el.clientHeight - el.scrollTop) < 4"
    assert chat.evaluate(at_bottom)
    _shot(page, "simulator-1366")

    # A day later the learner has been silent for over 24 hours: WhatsApp's rule gives a nudge; a reply brings it.
    page.get_by_role("button", name="One day later").click()
    expect(page.locator("#sim-outcome")).to_contain_text("One day went by")
    expect(chat.locator(".bubble.in", has_text="is ready. Reply to get it")).to_have_count(1)
    say("ok", "Lesson 3 of 7")

    page.get_by_role("button", name="Skip to the last lesson").click()
    expect(page.locator("#sim-outcome")).to_contain_text("Skipped to the last lesson")
    expect(chat.locator(".bubble.in", has_text="Lesson 7 of 7")).to_have_count(1)
    conn = sqlite3.connect(data / "coachbox.db", timeout=10)
    questions = conn.execute(
        """SELECT q.kind, q.answer FROM questions q JOIN lessons l ON l.id = q.lesson_id JOIN courses c
           ON c.id = l.course_id WHERE c.slug = 'mobile-money-safety' AND l.position = 7 ORDER BY q.position"""
    ).fetchall()
    conn.close()
    for number, (kind, answer) in enumerate(questions, start=1):
        right = json.loads(answer)
        said = "ABCDEF"[right - 1] if kind == "choice" else str(right).lower() if kind == "true_false" else right[0]
        say(said, "certificate" if number == len(questions) else "")
    expect(chat.locator(".bubble.in", has_text="certificate").first).to_be_visible()

    page.reload()
    expect(page.locator("#sim-coming")).to_contain_text("finished")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _fits(page, 390)
    _shot(page, "simulator-390")

    # The learner's page: their transcript formatted, newest last, and quiz answers with the choice's text.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_role("link", name="this test learner's page").click()
    transcript = page.locator("#transcript")
    expect(transcript.locator(".bubble strong", has_text="Mobile Money Safety").first).to_be_visible()
    assert transcript.evaluate(at_bottom)
    assert "*" not in transcript.locator(".bubble").last.locator(".wa").inner_text()
    first_choice = next(i for i, (kind, _) in enumerate(questions) if kind == "choice")
    answer = json.loads(questions[first_choice][1])
    expect(page.get_by_text(f"{'ABCDEF'[answer - 1]}: “")).to_have_count(1)
    _shot(page, "learner-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _fits(page, 390)
    _shot(page, "learner-390")


def test_it_enrols_one_learner_and_a_csv(server, page):
    base, data = server
    _sign_in(page, base)
    page.goto(f"{base}/admin/learners/enrol")
    expect(page.locator("#course-names")).to_contain_text("mobile-money-safety")
    expect(page.locator(".enrol-example")).to_contain_text(",mobile-money-safety,")

    page.get_by_label("Phone number").fill("0712 000 222")
    page.get_by_label("Name", exact=True).fill("Wanjiru")
    page.get_by_label("Course", exact=True).select_option("mobile-money-safety")
    page.get_by_role("button", name="Add learner").click()
    expect(page.locator("#enrol-done")).to_contain_text("Wanjiru (+254712000222) was added, in Mobile Money Safety")
    _shot(page, "enrol-one-1366")

    csv_text = (
        "phone,name,course,cohort,language,lesson_time\n"
        "+254722000001,Achieng,mobile-money-safety,Form 2,en,07:30\n"
        "not-a-phone,Broken,mobile-money-safety,Form 2,en,07:30\n"
        "+254712000222,Wanjiru K.,,,,\n"
    )
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "learners.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    page.get_by_role("button", name="Check the file").click()
    assert "is not a valid phone number" in page.locator('tr[data-line="3"]').inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page, 390)  # the preview's rows become cards on a phone
    _shot(page, "enrol-preview-390")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_role("button", name="Apply 2 rows").click()
    expect(page.locator("#enrol-done")).to_contain_text("1 new learner added, 1 updated, 1 row with errors skipped")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page, 390)
    _shot(page, "enrol-390")
    conn = sqlite3.connect(data / "coachbox.db", timeout=10)
    names = {r[0] for r in conn.execute("SELECT name FROM learners WHERE channel = 'whatsapp'")}
    conn.close()
    assert names == {"Wanjiru K.", "Achieng"}
