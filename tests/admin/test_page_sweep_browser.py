"""The page sweep, the full matrix: every admin page a browser can GET × owner, editor and viewer × an empty box and
one with data × 1366 x 900 and 390 x 844. Each: never JSON to a browser, no 5xx, a screenshot (JPEG) at both widths,
no sideways scrolling at 390 px; axe-core finds no serious or critical accessibility problem for every role at both
widths on the box with data, and at 390 px on the empty box. Screenshots go to tests/artifacts/pages/ (ignored by
git), with report.json: the seconds it took, the counts and every problem found.

The pages come from the app's own routes (`app.router.routes`), so a new page is swept without editing this file;
path parameters are filled from the seeded data (PARAMETERS). One server and one browser for the whole sweep; the
three roles walk the pages at the same time (one browser context each), axe-core is injected into every document by
an init script (no extra round trip per run) and reports violations only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import axe_playwright_python
import pytest
from playwright.async_api import async_playwright

from coachbox.admin.passwords import hash_password
from coachbox.core.config import Settings
from coachbox.roots.app import create_app
from tests import processes
from tests.browser import ARGS, CHROMIUM, free_port, needs_chromium, serve
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "tests" / "artifacts" / "pages"
# Set COACHBOX_SHOTS to a folder to also get PNGs of the editor's pages on the box with data (docs/img/ comes from them).
DOCS = Path(os.environ["COACHBOX_SHOTS"]) if os.environ.get("COACHBOX_SHOTS") else None
PASSWORD = "sweep's long password"
ROLES = ("owner", "editor", "viewer")
WIDE, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")
# Not pages: live-update streams, downloads, static files, the JSON API's own documents.
SKIP_PREFIXES = ("admin/events/", "admin/static/")
SKIP_SUFFIXES = (".csv", "/export", "backups/<name:str>")
# Where a page's path parameter comes from in the seeded box (the first row of each; the empty box has none).
PARAMETERS = {
    "learner_id": "SELECT min(id) FROM learners",
    "course_id": "SELECT min(id) FROM courses",
    "lesson_id": "SELECT min(id) FROM lessons",
    "broadcast_id": "SELECT min(id) FROM broadcasts",
    "admin_id": "SELECT min(id) FROM admins WHERE role != 'owner'",
    "token_id": "SELECT min(id) FROM api_tokens",
    "handover_id": "SELECT min(id) FROM handovers",
}
SIGNED_OUT = ("admin/login", "admin/setup", "admin/reset")
# A long reply (it must wrap on a phone), in words a teacher would send: the docs' pictures show it.
REPLY = (
    "Karibu! Your next lesson, *Keep your PIN secret*, comes tomorrow at 07:00. Before then, try this: check your "
    "balance through the official menu and notice the moment it asks for your PIN. Make sure nobody can see your "
    "screen while you type it. Reply NEXT if you want the lesson now, or HELP to see what else you can do."
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def admin_routes() -> list[str]:
    """Every GET route under /admin that shows a page, as the router knows them (new pages included)."""
    environ = {"COACHBOX_PATHS_DATA_DIR": "/nonexistent-sweep", "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content")}
    app = create_app(Settings.load(REPO / "coachbox.toml", environ), name="sweep_routes")
    paths = set()
    for route in app.router.routes:
        path = route.path
        if "GET" not in route.methods or not (path == "admin" or path.startswith("admin/")):
            continue
        if path.startswith(SKIP_PREFIXES) or path.endswith(SKIP_SUFFIXES):
            continue
        paths.add(path)
    return sorted(paths)


def fill(path: str, values: dict[str, int | None]) -> str | None:
    """admin/learners/<learner_id:int> → /admin/learners/3; None when the box has no such row (or an unknown
    parameter: the report names it, so a new kind of page gets its PARAMETERS line)."""
    parts = []
    for part in path.split("/"):
        if part.startswith("<"):
            name = part[1:-1].split(":")[0]
            if values.get(name) is None:
                return None
            part = str(values[name])
        parts.append(part)
    return "/" + "/".join(parts) + ("/" if path == "admin" else "")


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _seed_admins(conn: sqlite3.Connection) -> None:
    hashed = hash_password(PASSWORD)
    for role in ROLES:
        conn.execute(
            "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, ?, '2026-03-01T06:00:00+00:00')",
            (f"{role}@school.test", hashed, role),
        )


def _seed_data(conn: sqlite3.Connection, env: dict[str, str]) -> None:
    """A box in use: the repo's courses, learners with long names, messages, a broadcast, an API token, a class,
    an open conversation in the inbox and some audit history."""
    subprocess.run(
        [sys.executable, "-m", "coachbox", "import"], env=env, cwd=REPO, check=True, capture_output=True, timeout=60
    )
    course = conn.execute("SELECT id FROM courses ORDER BY id").fetchone()["id"]
    names = ["Amina Wanjiru Njoroge-Kamau", "Baraka", "Chebet <script>alert(1)</script>", "Dalia", "Esther Atieno"]
    for i, name in enumerate(names):
        learner = conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, name, status, cohort, last_inbound_at, created_at,
                                     updated_at, current_course_id)
               VALUES (?, 'whatsapp', ?, ?, 'active', ?, '2026-03-02T04:30:00+00:00', '2026-03-01T00:00:00+00:00',
                       '2026-03-01T00:00:00+00:00', ?)""",
            (f"whatsapp:+2547000000{i:02d}", f"+2547000000{i:02d}", name, "Form 2 East" if i % 2 else "Form 3", course),
        ).lastrowid
        for n, (direction, body) in enumerate([("in", "Habari! When is the next lesson?"), ("out", REPLY)]):
            conn.execute(
                """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, created_at,
                                         updated_at)
                   VALUES (?, ?, 'whatsapp', 'whatsapp:+1', ?, 'reply', ?, ?, ?)""",
                (
                    learner,
                    direction,
                    body,
                    "received" if direction == "in" else "delivered",
                    f"2026-03-02T04:3{n}:00+00:00",
                    f"2026-03-02T04:3{n}:00+00:00",
                ),
            )
    first = conn.execute("SELECT min(id) FROM learners").fetchone()[0]
    owner = conn.execute("SELECT id FROM admins WHERE role = 'owner'").fetchone()[0]
    conn.execute(
        """INSERT INTO broadcasts (body, audience, scheduled_at, status, created_by, created_at)
           VALUES ('Exams start on Monday: revise lessons 1 to 5 this weekend.', 'all', '2026-03-02T16:00:00+00:00',
                   'scheduled', ?, '2026-03-02T04:00:00+00:00')""",
        (owner,),
    )
    conn.execute(
        """INSERT INTO api_tokens (name, token_hash, role, created_at)
           VALUES ('Reporting spreadsheet', 'sweep-hash', 'viewer', '2026-03-01T08:00:00+00:00')"""
    )
    try:
        conn.execute(
            "INSERT OR IGNORE INTO classes (name, created_at) VALUES ('Form 2 East', '2026-03-01T08:00:00+00:00')"
        )
        conn.execute(
            """INSERT INTO handovers (learner_id, reason, detail, opened_at, waiting_since, updated_at)
               VALUES (?, 'asked', 'I want to talk to my teacher', '2026-03-02T04:31:00+00:00',
                       '2026-03-02T04:31:00+00:00', '2026-03-02T04:31:00+00:00')""",
            (first,),
        )
    except sqlite3.Error:
        pass  # a table another change renamed: those pages are then swept on what they show without it
    for action, target, detail in [
        ("learner.pause", f"learner:{first}", {}),
        ("broadcast.create", "broadcast:1", {"audience": "all", "scheduled_at": "2026-03-02T16:00:00+00:00"}),
        ("admin.role", "admin:editor@school.test", {"old": "viewer", "new": "editor"}),
    ]:
        conn.execute(
            "INSERT INTO audit_log (admin_id, action, target, detail, created_at) VALUES (?, ?, ?, ?, ?)",
            (owner, action, target, json.dumps(detail), "2026-03-02T04:00:00+00:00"),
        )


@pytest.fixture(scope="module")
def box(tmp_path_factory, run_instant):
    data = tmp_path_factory.mktemp("sweep") / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_SERVER_PUBLIC_URL": base,
        **clock_environ(run_instant),
    }
    proc = serve(port, env, data.parent / "serve.log")
    conn = _db(data / "coachbox.db")
    _seed_admins(conn)
    yield base, conn, env
    conn.close()
    processes.stop(proc)


AXE_SOURCE = Path(axe_playwright_python.__file__).parent / "axe.min.js"
# Violations only (no passes or incomplete lists to build and ship back): about half the time of a default run.
AXE_RUN = "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
OFFENDERS = """() => [...document.querySelectorAll('main *, header *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''))"""


async def _context(browser):
    context = await browser.new_context(viewport=PHONE)
    await context.add_init_script(path=str(AXE_SOURCE))
    page = await context.new_page()
    page.set_default_timeout(20_000)
    return page


async def _sign_in(browser, base: str, role: str):
    page = await _context(browser)
    await page.goto(f"{base}/admin/login")
    await page.get_by_label("Email").fill(f"{role}@school.test")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/admin/")
    return page


async def _axe(page, width: int, found: list[str], counts: dict) -> None:
    counts["axe"] += 1
    for v in await page.evaluate(AXE_RUN):
        if v.get("impact") in SERIOUS:
            targets = [", ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])[:3]]
            found.append(f"axe {v['impact']} at {width} px: {v['id']} ({v['help']}) at {'; '.join(targets)}")


async def _check(page, url: str, shot: str, problems: dict, counts: dict, *, axe_phone: bool, axe_wide: bool):
    """One page at 390 px (type, status, sideways scrolling, screenshot, axe) and then at 1366 px (screenshot, axe)."""
    await page.set_viewport_size(PHONE)
    response = await page.goto(url, wait_until="domcontentloaded")
    counts["pages"] += 1
    found: list[str] = []
    kind = (response.headers.get("content-type", "") if response else "").split(";")[0]
    if kind != "text/html" or await page.evaluate("document.body.innerText.trim().startsWith('{')"):
        found.append(f"not an HTML page ({kind or 'no response'})")
    status = response.status if response else 0
    if status >= 500:
        found.append(f"HTTP {status}: " + (await page.locator("main").inner_text())[:200])
    overflow = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if overflow[0] > overflow[1]:
        culprits = await page.evaluate(OFFENDERS)
        found.append(f"scrolls sideways at 390 px: {overflow[0]} > {overflow[1]} ({', '.join(culprits)})")
    # JPEG at quality 50: a third of PNG's encoding time, a tenth of its size, and plenty to look at a page.
    await page.screenshot(path=str(SHOTS / f"{shot}-390.jpg"), full_page=True, type="jpeg", quality=50)
    counts["shots"] += 1
    docs = DOCS is not None and shot.startswith("data-editor-")
    if docs:
        await page.screenshot(path=str(DOCS / f"{shot}-390.png"), full_page=True)
    if axe_phone and status < 500:
        await _axe(page, 390, found, counts)
    await page.set_viewport_size(WIDE)
    await page.screenshot(path=str(SHOTS / f"{shot}-1366.jpg"), full_page=True, type="jpeg", quality=50)
    counts["shots"] += 1
    if docs:
        await page.screenshot(path=str(DOCS / f"{shot}-1366.png"), full_page=True)
    if axe_wide and status < 500:
        await _axe(page, 1366, found, counts)
    if found:
        problems[f"{url} [{shot}]"] = found


def _shot_name(state: str, role: str, path: str) -> str:
    return f"{state}-{role}-{path.replace('/', '_').replace('<', '').replace('>', '').replace(':', '-')}"


async def _sweep(base: str, conn: sqlite3.Connection, env: dict[str, str], routes: list[str]):
    problems: dict[str, list[str]] = {}
    unfilled: set[str] = set()
    counts = {"pages": 0, "shots": 0, "axe": 0}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            signed_out = await _context(browser)
            for path in SIGNED_OUT:
                await _check(
                    signed_out,
                    f"{base}/{path}",
                    path.replace("/", "_"),
                    problems,
                    counts,
                    axe_phone=True,
                    axe_wide=True,
                )
            pages = dict(zip(ROLES, await asyncio.gather(*(_sign_in(browser, base, r) for r in ROLES)), strict=True))
            for state in ("empty", "data"):
                if state == "data":
                    _seed_data(conn, env)
                values = {name: conn.execute(sql).fetchone()[0] for name, sql in PARAMETERS.items()}
                urls = []
                for path in routes:
                    url = None if path in SIGNED_OUT else fill(path, values)
                    if url is None and state == "data" and path not in SIGNED_OUT:
                        unfilled.add(path)
                    if url is not None:
                        urls.append((path, url))

                async def walk(role: str, urls=urls, state=state) -> None:
                    # Every role on the box with data at both widths; the empty box at 390 px, where empty states
                    # break first.
                    for path, url in urls:
                        await _check(
                            pages[role],
                            f"{base}{url}",
                            _shot_name(state, role, path),
                            problems,
                            counts,
                            axe_phone=True,
                            axe_wide=state == "data",
                        )

                await asyncio.gather(*(walk(role) for role in ROLES))
        finally:
            await browser.close()
    return problems, unfilled, counts


def test_every_admin_page_fits_a_phone_speaks_html_and_passes_axe(box):
    base, conn, env = box
    SHOTS.mkdir(parents=True, exist_ok=True)
    if DOCS is not None:
        DOCS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.jpg"):
        old.unlink()
    routes = admin_routes()
    assert "admin/audit" in routes and "admin/learners/<learner_id:int>" in routes
    started = time.monotonic()
    problems, unfilled, counts = asyncio.run(_sweep(base, conn, env, routes))
    elapsed = time.monotonic() - started
    (SHOTS / "report.json").write_text(
        json.dumps(
            {"seconds": round(elapsed, 1), **counts, "problems": problems, "unfilled": sorted(unfilled)}, indent=2
        )
    )
    assert not unfilled, f"pages whose path parameter has no PARAMETERS line or no seeded row: {sorted(unfilled)}"
    assert not problems, "\n".join(f"{url}: {'; '.join(found)}" for url, found in sorted(problems.items()))
