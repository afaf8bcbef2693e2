"""Browser tests: Playwright driving Debian's Chromium against a real `coachbox serve` process."""

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

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "owner's long password"

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install chromium")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser") / "data"
    port = _free_port()
    env = {**os.environ, "COACHBOX_PATHS_DATA_DIR": str(data), "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
           "COACHBOX_LOG_LEVEL": "WARNING", "COACHBOX_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "coachbox", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("server did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
            time.sleep(0.2)
    yield base, data / "coachbox.db"
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def test_it_runs_an_admin_session_end_to_end(server, browser):
    base, db_path = server
    conn = _db(db_path)
    token = conn.execute("SELECT value FROM box_state WHERE key = 'setup_token'").fetchone()[0]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(10_000)

    # First run: the setup link creates the owner and signs them in.
    page.goto(f"{base}/admin/setup?token={token}")
    page.get_by_label("Your email").fill("owner@school.test")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat it").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/admin/")

    # Sign out and back in.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill("owner@school.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")

    # Create a course, edit a lesson: the WhatsApp bubble and the counter follow the typing.
    page.goto(f"{base}/admin/courses")
    page.get_by_label("Title").fill("Saving <b>basics</b>")
    page.get_by_role("button", name="Create course").click()
    page.get_by_label("Title", exact=True).first.fill("Why save?")
    page.get_by_role("button", name="Add lesson").click()
    page.get_by_label("Body").fill("*Save* a little _every_ week.")
    assert page.locator("#preview strong").inner_text() == "Save"
    assert "29 / 1,600" in page.locator("#counter").inner_text()
    page.get_by_role("button", name="Save lesson").click()
    page.get_by_label("Question").last.fill("Is saving weekly good?")
    page.get_by_label("Kind").last.select_option("true_false")
    page.locator("#new-answer").fill("true")
    page.get_by_role("button", name="Add question").click()
    assert page.locator("#quiz .card").count() == 2  # the saved question + the add form
    lesson = conn.execute("SELECT body FROM lessons WHERE title = 'Why save?'").fetchone()
    assert lesson["body"] == "*Save* a little _every_ week."

    # Try the bot in the simulator panel: it creates a test learner through the real engine.
    page.goto(f"{base}/admin/simulator")
    page.get_by_label("Your message").fill("hi")
    page.get_by_role("button", name="Send").click()
    page.locator("#sim-chat .bubble.in").first.wait_for()
    learner_id = conn.execute("SELECT id FROM learners WHERE channel_key LIKE 'sim:%'").fetchone()[0]

    # Send that learner a message: it goes through the outbox and the (simulator) channel delivers it.
    page.goto(f"{base}/admin/learners/{learner_id}")
    page.get_by_label("Message", exact=True).fill("Hello from your teacher")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(f"**/admin/learners/{learner_id}?done=sent")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = conn.execute("SELECT status FROM messages WHERE body = 'Hello from your teacher'").fetchone()
        if row and row["status"] in ("delivered", "sent"):
            break
        time.sleep(0.2)
    assert row["status"] in ("delivered", "sent")
    page.reload()
    assert page.locator(".bubble.out", has_text="Hello from your teacher").count() == 1

    # CSV enrolment with a bad row: the preview names the row's error, confirm applies only the good ones.
    page.goto(f"{base}/admin/learners")
    page.get_by_role("link", name="Enrol from a CSV file").click()
    slug = conn.execute("SELECT slug FROM courses ORDER BY id DESC LIMIT 1").fetchone()[0]  # the course made above
    csv_text = ("phone,name,course,cohort,language,lesson_time\n"
                f"+254722000001,Wanjiru,{slug},Browser cohort,en,07:30\n"
                f"not-a-phone,Broken,{slug},Browser cohort,en,07:30\n")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "learners.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}])
    page.get_by_role("button", name="Check the file").click()
    assert "is not a valid phone number" in page.locator('tr[data-line="3"]').inner_text()
    assert "create" in page.locator('tr[data-line="2"]').inner_text()
    page.get_by_role("button", name="Apply 1 row").click()
    page.wait_for_url("**/admin/learners?done=enrolled")
    assert conn.execute("SELECT COUNT(*) FROM learners WHERE cohort = 'Browser cohort'").fetchone()[0] == 1

    # Dashboard screenshot, and the page fits a 360 px phone.
    page.goto(f"{base}/admin/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{base}/admin/learners")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # Add a viewer; the viewer can read but not edit (no button, and a forged POST is refused).
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{base}/admin/users")
    page.locator("#new-email").fill("viewer@school.test")
    page.locator("#new-role").select_option("viewer")
    page.get_by_role("button", name="Add and make a link").click()
    link = page.get_by_label("One-time link").input_value()
    viewer = browser.new_page()
    viewer.goto(link)
    viewer.get_by_label("New password").fill("viewer's password")
    viewer.get_by_label("Repeat it").fill("viewer's password")
    viewer.get_by_role("button", name="Set password").click()
    viewer.wait_for_url(f"{base}/admin/")
    lesson_id = conn.execute("SELECT id FROM lessons WHERE title = 'Why save?'").fetchone()[0]
    viewer.goto(f"{base}/admin/lessons/{lesson_id}")
    assert viewer.get_by_role("button", name="Save lesson").count() == 0
    status = viewer.evaluate("""async (url) => {
        const csrf = document.querySelector('main').dataset.csrf;
        const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                                    body: 'title=x&minutes=1&body=hacked&csrf_token=' + encodeURIComponent(csrf)});
        return r.status; }""", f"{base}/admin/lessons/{lesson_id}")
    assert status == 403
    assert viewer.goto(f"{base}/admin/users").status == 403
    conn.close()
