"""Browser tests: Playwright driving Debian's Chromium against a real `coachbox serve` process.

The servers run on the test clock (COACHBOX_TEST_NOW at the run's `--at` instant), never the real time: make test
runs these at a night and a day instant too. A teacher's "Send now" goes out whatever the hour.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect, sync_playwright
from twilio.request_validator import RequestValidator

from coachbox.admin.passwords import hash_password
from coachbox.core.clock import clock_from_environment
from tests import processes
from tests.browser import ARGS, CHROMIUM, free_port, needs_chromium, serve
from tests.conftest import clock_environ
from tests.doubles.twilio_double import TwilioDouble

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
NAIROBI = ZoneInfo("Africa/Nairobi")
PASSWORD = "owner's long password"
WHATSAPP_FROM = "whatsapp:+14155238886"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]


def _serve(data: Path, clock: dict[str, str], **env: str):
    """Start `coachbox serve` on a free port with the test clock `clock` (clock_environ(…)); returns (base URL,
    process) once /healthz answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_SERVER_PUBLIC_URL": base,
        **clock,
        **env,
    }
    output = data.parent / "serve.log"
    proc = serve(port, env, output)
    return base, proc


def _stop(proc: subprocess.Popen) -> None:
    processes.stop(proc)  # the server and every worker it spawned


@pytest.fixture(scope="module")
def server(tmp_path_factory, run_instant):
    data = tmp_path_factory.mktemp("browser") / "data"
    base, proc = _serve(data, clock_environ(run_instant))
    yield base, data / "coachbox.db"
    _stop(proc)


@pytest.fixture(scope="module")
def twilio_server(tmp_path_factory, run_instant):
    """`coachbox serve` with Twilio configured against the local Twilio double (in this process, on the server's
    clock)."""
    clock = clock_environ(run_instant)
    double = TwilioDouble(now=clock_from_environment(clock).now).start()
    data = tmp_path_factory.mktemp("browser-twilio") / "data"
    base, proc = _serve(
        data,
        clock,
        COACHBOX_TWILIO_ACCOUNT_SID=double.account_sid,
        COACHBOX_TWILIO_AUTH_TOKEN=double.auth_token,
        COACHBOX_TWILIO_API_BASE_URL=double.url,
        COACHBOX_TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
    )
    yield base, data / "coachbox.db", double, run_instant
    _stop(proc)
    double.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _close_pages(browser):
    """A test's pages close when it ends: a server waits for open connections (live updates) before it stops."""
    yield
    for context in browser.contexts:
        context.close()


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def test_it_runs_an_admin_session_end_to_end(server, browser):
    base, db_path = server
    conn = _db(db_path)
    # Only the link's hash is stored: the token is in what `coachbox serve` printed at its first start.
    printed = (db_path.parent.parent / "serve.log").read_text(encoding="utf-8")
    token = printed.split("/admin/setup?token=", 1)[1].split()[0]
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
    page.locator("#add-question").get_by_label("True or false").check()  # a form per kind of question
    page.locator("#add-question").get_by_label("TRUE", exact=True).check()
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
    page.get_by_role("button", name="Send now").click()
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
    page.get_by_role("link", name="Add learners (one, or from a CSV file)").click()
    slug = conn.execute("SELECT slug FROM courses ORDER BY id DESC LIMIT 1").fetchone()[0]  # the course made above
    csv_text = (
        "phone,name,course,cohort,language,lesson_time\n"
        f"+254722000001,Wanjiru,{slug},Browser cohort,en,07:30\n"
        f"not-a-phone,Broken,{slug},Browser cohort,en,07:30\n"
    )
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "learners.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    page.get_by_role("button", name="Check the file").click()
    assert "is not a valid phone number" in page.locator('tr[data-line="3"]').inner_text()
    assert "create" in page.locator('tr[data-line="2"]').inner_text()
    page.get_by_role("button", name="Apply 1 row").click()
    # Back on the enrol page, which says how many were added and skipped.
    expect(page.locator("#enrol-done")).to_contain_text("1 new learner added, 0 updated, 1 row with errors skipped")
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
    status = viewer.evaluate(
        """async (url) => {
        const csrf = document.querySelector('main').dataset.csrf;
        const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                                    body: 'title=x&minutes=1&body=hacked&csrf_token=' + encodeURIComponent(csrf)});
        return r.status; }""",
        f"{base}/admin/lessons/{lesson_id}",
    )
    assert status == 403
    assert viewer.goto(f"{base}/admin/users").status == 403
    conn.close()


def _post_signed(base: str, path: str, params: dict[str, str], token: str) -> int:
    """POST a form the way Twilio does: X-Twilio-Signature over the public URL and the sorted fields."""
    url = base + path
    signature = RequestValidator(token).compute_signature(url, params)
    request = urllib.request.Request(
        url,
        data=urlencode(params).encode(),
        method="POST",
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def _wait_for(predicate, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _keyboard_sign_in(page, base: str, email: str) -> None:
    """Keyboard only: skip link, the form's fields, Enter on the button; focus stays visible on the way."""
    page.goto(f"{base}/admin/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = page.evaluate("(() => { const r = document.activeElement.getBoundingClientRect(); return [r.x, r.y]; })()")
    assert box[0] >= 0 and box[1] >= 0  # the skip link shows itself when focused
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "email"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign in"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/admin/")


def test_it_sends_a_message_to_a_learner_through_twilio_and_shows_its_status(twilio_server, browser):
    base, db_path, double, started = twilio_server
    conn = _db(db_path)
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'editor', ?)",
        ("teacher@school.test", hash_password(PASSWORD), "2026-03-01T00:00:00+00:00"),
    )

    # The learner writes first (a signed webhook, as Twilio sends it): WhatsApp's 24-hour window is open.
    learner = "whatsapp:+254711000222"
    assert (
        _post_signed(
            base,
            "/webhooks/twilio",
            {
                "MessageSid": "SM" + "0" * 31 + "1",
                "AccountSid": double.account_sid,
                "From": learner,
                "To": WHATSAPP_FROM,
                "Body": "Hi",
                "NumMedia": "0",
                "ProfileName": "Baraka",
                "WaId": "254711000222",
            },
            double.auth_token,
        )
        == 200
    )
    learner_id = _wait_for(
        lambda: (conn.execute("SELECT id FROM learners WHERE channel_key = ?", (learner,)).fetchone() or [None])[0]
    )

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(10_000)
    _keyboard_sign_in(page, base, "teacher@school.test")
    page.goto(f"{base}/admin/learners/{learner_id}")
    assert "window is open" in page.locator("#send-h + p").inner_text()
    # The learner's wall clock is the server's test clock (it started at the run's instant), never the real time;
    # in their quiet hours the page offers to send at 07:00 instead.
    shown = page.locator("#local-time strong").inner_text()
    assert shown in {f"{(started + timedelta(minutes=m)).astimezone(NAIROBI):%H:%M}" for m in range(5)}
    quiet = not "07:00" <= shown < "21:00"
    assert page.get_by_role("button", name="Send at 07:00 instead").count() == int(quiet)
    page.get_by_label("Message", exact=True).fill("Hello from your teacher")
    page.get_by_role("button", name="Send now").click()
    page.wait_for_url(f"**/admin/learners/{learner_id}?done=sent")

    # The double (standing in for Twilio) got it, as free text to the learner's WhatsApp address.
    sent = _wait_for(lambda: [m for m in double.accepted if m.get("Body") == "Hello from your teacher"])
    assert len(sent) == 1 and sent[0].to == learner and sent[0].get("From") == WHATSAPP_FROM

    # The open transcript follows the delivery status live: "sent", then Twilio's "delivered" callback.
    bubble = page.locator(".bubble.out", has_text="Hello from your teacher")
    expect(bubble.locator(".status")).to_have_text("sent")
    assert (
        _post_signed(
            base,
            f"/webhooks/twilio/status?m={sent[0].tag}",
            {
                "MessageSid": sent[0].sid,
                "MessageStatus": "delivered",
                "AccountSid": double.account_sid,
                "To": learner,
                "From": WHATSAPP_FROM,
            },
            double.auth_token,
        )
        == 204
    )
    expect(bubble.locator(".status")).to_have_text("delivered", timeout=3_000)

    # With JavaScript off the page is whole: a reload shows the same status.
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(f"{base}/admin/login?next=/admin/learners/{learner_id}")
    plain.get_by_label("Email").fill("teacher@school.test")
    plain.get_by_label("Password").fill(PASSWORD)
    plain.get_by_role("button", name="Sign in").click()
    plain.wait_for_url(f"**/admin/learners/{learner_id}")
    assert (
        plain.locator(".bubble.out", has_text="Hello from your teacher").locator(".status").inner_text() == "delivered"
    )
    context.close()
    conn.close()
