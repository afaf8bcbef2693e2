"""Browser test: a teacher reads the dashboard on day one and after a simulated week (Playwright, Debian's Chromium,
a real `coachbox serve` on the test clock). The week is made through the real engine and scheduler
(tests/admin/dashboard_week.py); the server's clock is pinned, so the run's hour does not matter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests import processes
from tests.admin.dashboard_week import START, WEEK_LATER, add_owner
from tests.browser import ARGS, CHROMIUM, free_port, needs_chromium, serve
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD = "head@school.test", "owner's long password"
SHOTS = Path(os.environ.get("COACHBOX_SHOTS", "")) if os.environ.get("COACHBOX_SHOTS") else None
MIN_LABEL_PX = 11

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

# Every <text> of the dashboard's charts: its rendered size in CSS pixels (font size × the SVG's scale).
LABEL_SIZES = """() => [...document.querySelectorAll('.charts svg text, .chart svg text')].map(t => {
    const m = t.getScreenCTM();
    const where = t.closest('[id]');
    return {text: t.textContent, where: where ? where.id : '',
            px: parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b)};
})"""


def _serve(data: Path, instant: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_SERVER_PUBLIC_URL": base,
        **clock_environ(instant),
    }
    for key in [k for k in env if k.startswith(("COACHBOX_TWILIO_", "COACHBOX_META_"))]:
        del env[key]  # the simulator channel
    return base, serve(port, env, data.parent / "serve.log")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")


def _read(page: Page, name: str) -> dict:
    """What the teacher sees at this width: label sizes, sideways scrolling, and a screenshot when asked."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    sizes = page.evaluate(LABEL_SIZES)
    smallest = min(sizes, key=lambda s: s["px"], default=None)
    if smallest:
        print(f"{name} at {width} px: smallest chart text {smallest['px']:.1f} px ({smallest['text']!r})")
    return {
        "smallest": smallest["px"] if smallest else None,
        "smallest_label": f"{smallest['text']!r} in #{smallest['where']}" if smallest else "",
        "labels": len(sizes),
        "sideways": page.evaluate("document.documentElement.scrollWidth") > width,
    }


def _tile(page: Page, label: str) -> str:
    return page.locator(".stat", has_text=label).locator("b").first.inner_text()


def test_a_teacher_reads_the_dashboard_on_day_one_and_after_a_week(browser, tmp_path):
    # Day one: an empty box.
    day_one = tmp_path / "day-one" / "data"
    day_one.mkdir(parents=True)
    add_owner(day_one, EMAIL, PASSWORD)
    base, proc = _serve(day_one, START)
    try:
        for width, height in ((1366, 900), (390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15_000)
            _sign_in(page, base)
            assert "Nothing to chart yet" in page.locator("#day-one").inner_text()
            assert _tile(page, "lessons delivered today") == "0"
            assert "Nobody right now" in page.locator("#at-risk").inner_text()
            read = _read(page, "dashboard-day-one")
            assert not read["sideways"], f"sideways scrolling at {width} px on day one"
            page.close()
    finally:
        processes.stop(proc)

    # A week later: six learners, two classes, through the engine and the scheduler.
    week = tmp_path / "week" / "data"
    week.mkdir(parents=True)
    # In a child process: the sync Playwright API holds an event loop in this thread, and seeding drains the outbox
    # with asyncio.
    subprocess.run([sys.executable, "-m", "tests.admin.dashboard_week", str(week)], cwd=REPO, check=True, timeout=120)
    add_owner(week, EMAIL, PASSWORD)
    base, proc = _serve(week, WEEK_LATER)
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(15_000)
        _sign_in(page, base)
        assert page.locator("#day-one").count() == 0
        assert int(_tile(page, "lessons delivered today")) >= 5  # this morning's lessons, live
        assert page.locator('b[data-key="learners"]').inner_text() == "6"
        assert _tile(page, "learners wrote today") == "5"  # Eshe stopped on Tuesday
        for chart in ("active", "lessons", "quiz", "messages", "streaks"):
            assert page.locator(f"#chart-{chart} svg").count() == 1, chart
        assert "Nobody opted out" in page.locator("#chart-optouts").inner_text()
        silent = page.locator("#risk-silent").inner_text()
        failing = page.locator("#risk-failing").inner_text()
        assert "Eshe Achieng" in silent and "Chausiku Njeri" not in silent
        assert "Chausiku Njeri" in failing and "Faraji Mwangi" in failing and "Amina" not in failing
        classes = page.locator("#classes-h + .table-wrap").inner_text()
        assert "Form 2A" in classes and "Form 2B" in classes
        read = _read(page, "dashboard-week")
        assert read["labels"] > 20 and not read["sideways"]

        # One click nudges Eshe; the list then says so instead of offering a second nudge.
        page.locator("#risk-silent li", has_text="Eshe Achieng").get_by_role(
            "button", name="Nudge Eshe Achieng"
        ).click()
        page.wait_for_url("**/admin/?done=nudged#at-risk-h")
        assert "Nudged today ✓" in page.locator("#risk-silent li", has_text="Eshe Achieng").inner_text()

        # The course page: funnel, each lesson, each question with its wrong answers.
        page.get_by_role("link", name="Mobile Money Safety").first.click()
        assert page.locator("#lesson-completion-h").count() == 1
        assert page.locator("td.wrong", has_text="“").count() >= 1
        _read(page, "course-week")
        page.close()

        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.set_default_timeout(15_000)
        _sign_in(phone, base)
        read = _read(phone, "dashboard-week")
        assert not read["sideways"], "sideways scrolling at 390 px"
        assert read["smallest"] >= MIN_LABEL_PX, (
            f"chart text {read['smallest']:.1f} px at 390 px: {read['smallest_label']}"
        )
        phone.get_by_role("link", name="Mobile Money Safety").first.click()
        read = _read(phone, "course-week")
        assert read["smallest"] >= MIN_LABEL_PX, (
            f"course chart text {read['smallest']:.1f} px at 390 px: {read['smallest_label']}"
        )
        phone.close()
    finally:
        processes.stop(proc)
