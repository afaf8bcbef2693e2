"""A teacher on a phone schedules a broadcast for late evening, Nairobi time: the form takes local time, shows it
back in local time, and says who waits for the end of their quiet hours, in their own time.

Pinned to Monday 2 March 2026, 08:00 in Nairobi (its own instant: the times it asserts count from it), so it passes
at any --at; the server runs on that test clock, never the real time.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from coachbox.admin.passwords import hash_password
from tests import processes
from tests.browser import ARGS, CHROMIUM, free_port, needs_chromium, serve
from tests.conftest import DAYTIME, clock_environ

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
PASSWORD = "teacher's long password"

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    data = tmp_path_factory.mktemp("quiet-broadcast") / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_SERVER_PUBLIC_URL": base,
        **clock_environ(DAYTIME),
    }
    proc = serve(port, env, data.parent / "serve.log")
    conn = sqlite3.connect(data / "coachbox.db", timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'editor', ?)",
        ("teacher@school.test", hash_password(PASSWORD), DAYTIME),
    )
    for phone, name, zone in [("+254700000001", "Amina", "Africa/Nairobi"), ("+447700900001", "Tom", "Europe/London")]:
        conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, name, status, timezone, created_at, updated_at)
               VALUES (?, 'whatsapp', ?, ?, 'active', ?, ?, ?)""",
            (f"whatsapp:{phone}", phone, name, zone, DAYTIME, DAYTIME),
        )
    yield base, conn
    conn.close()
    processes.stop(proc)


def test_a_broadcast_for_23_00_nairobi_time_waits_for_quiet_hours_in_each_learners_time(box):
    base, conn = box
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.set_default_timeout(15_000)
            page.goto(f"{base}/admin/login")
            page.get_by_label("Email").fill("teacher@school.test")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/admin/")

            page.goto(f"{base}/admin/broadcasts")
            expect(page.locator("label[for=when]")).to_contain_text("Nairobi time")
            page.get_by_label("Message").fill("Exams start on Monday: revise lessons 1 to 5.")
            page.locator("#when").fill("2026-03-02T23:00")  # the school's local time, as the label says
            page.get_by_role("button", name="Schedule broadcast").click()

            # Nothing is scheduled yet: the page says who is in their quiet hours at 23:00, in their own time.
            notice = page.locator("#quiet-notice")
            expect(notice).to_contain_text("Not scheduled yet.")
            expect(notice).to_contain_text("At 2 Mar 2026, 23:00 (Nairobi time), 1 of 2 recipients")
            expect(notice).to_contain_text("1 at 07:00 tomorrow (Africa/Nairobi). The other 1")
            expect(notice).to_contain_text("The other 1 get it at 23:00.")  # Tom: 20:00 in London, not quiet
            expect(page.locator("#when")).to_have_value("2026-03-02T23:00")
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            page.screenshot(path=str(ARTIFACTS / "quiet-broadcast-asked-390.png"), full_page=True)
            assert conn.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0

            page.get_by_role("button", name="Schedule anyway").click()
            page.wait_for_url("**/admin/broadcasts/*?done=broadcast")
            facts = page.locator("dl.facts")
            expect(facts).to_contain_text("2 Mar 2026, 23:00 (Nairobi time)")
            expect(page.locator("#quiet-later")).to_contain_text("1 of 2 recipients are in their quiet hours then")
            expect(page.locator("#quiet-later")).to_contain_text("07:00 tomorrow (Africa/Nairobi)")
            assert "UTC" not in page.locator("main").inner_text()
            page.screenshot(path=str(ARTIFACTS / "quiet-broadcast-scheduled-390.png"), full_page=True)
        finally:
            browser.close()
    stored = conn.execute("SELECT scheduled_at FROM broadcasts").fetchone()["scheduled_at"]
    assert datetime.fromisoformat(stored) == datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 23:00 in Nairobi
