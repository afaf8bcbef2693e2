"""The menu's Inbox count on every admin page (issue #17: "a count in the admin menu on every page … It updates
live"): every live stream carries it, a page without a stream opens /admin/events/menu, the count is limited to
the teacher's classes, and it costs one read per scope however many tabs are open (admin.menu_count)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sanic_testing.testing import SanicASGITestClient

from coachbox.admin.menu_count import REREAD_SECONDS, MenuCounts
from coachbox.admin.scope import EVERYONE, LearnerScope
from coachbox.core import events
from coachbox.roots.app import create_app
from coachbox.store import classes, handover, transaction
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
NOW = datetime.fromisoformat("2026-03-02T05:00:00+00:00")


@pytest.fixture
def browser(settings, services, clock) -> SanicASGITestClient:
    clock.set(NOW)
    return SanicASGITestClient(create_app(settings, services))


def _open(conn, learner_id: int) -> int:
    with transaction(conn):
        return handover.open_handover(conn, learner_id, "asked", NOW - timedelta(minutes=5), detail="TEACHER")


def _count_event(text: str) -> str:
    return text.split("event: inbox-count\ndata: ", 1)[1].split("\n", 1)[0]


async def test_every_stream_and_a_page_without_one_carry_the_menu_count(browser, cast, conn):
    amina = add_learner(conn, name="Amina", cohort="Form 2")
    _open(conn, amina)
    await signed_in(browser, "charlie@school.test")  # a viewer: the menu shows the count to every role

    _, page = await browser.get("/admin/courses")  # a page with no live part of its own
    assert 'id="inbox-count"' in page.text and "<b>1</b>" in page.text
    _, menu = await browser.get("/admin/events/menu?once=1")
    assert menu.headers["content-type"].startswith("text/event-stream")
    assert _count_event(menu.text) == '{"open": 1}'
    _, dashboard = await browser.get("/admin/events/dashboard?once=1")  # a page's own stream carries it too
    assert "event: update" in dashboard.text and _count_event(dashboard.text) == '{"open": 1}'
    _, transcript = await browser.get(f"/admin/events/learners/{amina}?once=1")
    assert _count_event(transcript.text) == '{"open": 1}'
    _, script = await browser.get("/admin/static/admin.js")
    assert '"/admin/events/menu"' in script.text and 'addEventListener("inbox-count"' in script.text


async def test_the_menu_counts_only_the_teachers_classes(browser, cast, conn):
    amina = add_learner(conn, name="Amina", cohort="Form 2")
    baraka = add_learner(conn, name="Baraka", phone="+254700000002", cohort="Form 3")
    _open(conn, amina)
    _open(conn, baraka)
    with transaction(conn):
        classes.set_for_admin(conn, cast["bob@school.test"], ["Form 3"])
    await signed_in(browser, "bob@school.test")
    _, menu = await browser.get("/admin/events/menu?once=1")
    assert _count_event(menu.text) == '{"open": 1}'
    browser.cookies.clear()
    await signed_in(browser, "alice@school.test")  # the owner sees everyone's
    _, menu = await browser.get("/admin/events/menu?once=1")
    assert _count_event(menu.text) == '{"open": 2}'


async def test_many_tabs_cost_one_read_per_scope_until_the_inbox_changes(services, conn, clock):
    """Measured: 50 tabs of one scope and 50 of another, woken together, make 2 reads; waking them again without
    an inbox change makes none; an "inbox" publish (a handover opened) makes one read per scope."""
    amina = add_learner(conn, name="Amina", cohort="Form 2")
    _open(conn, amina)
    form3 = LearnerScope(everyone=False, classes=("Form 3",))
    counts = MenuCounts()
    statements: list[str] = []
    await services.db.run(lambda c: c.set_trace_callback(statements.append))
    try:
        events.hub(services).subscribe("inbox")  # a stream in this process, as the web worker has

        async def tabs() -> list[int]:
            return await asyncio.gather(*(counts.get(services, s) for s in [EVERYONE, form3] * 50))

        assert set(await tabs()) == {0, 1}
        assert counts.queries == 2
        await tabs()
        assert counts.queries == 2  # nothing changed: no query at all, however many tabs
        baraka = add_learner(conn, name="Baraka", phone="+254700000002", cohort="Form 3")
        _open(conn, baraka)
        events.publish(services, "inbox")
        found = await tabs()
        assert counts.queries == 4 and found[:2] == [2, 1]
        assert sum("FROM handovers" in s for s in statements) == 4  # the database saw exactly those reads
    finally:
        await services.db.run(lambda c: c.set_trace_callback(None))


async def test_a_change_nobody_published_shows_within_the_reread_time(services, conn):
    """The worker's payments or another web worker do not reach this hub: the count is read again after
    REREAD_SECONDS (of a monotonic clock, here the test's own)."""
    seconds = [100.0]
    counts = MenuCounts(monotonic=lambda: seconds[0])
    assert await counts.get(services, EVERYONE) == 0
    _open(conn, add_learner(conn, name="Amina"))
    seconds[0] += REREAD_SECONDS - 0.5
    assert await counts.get(services, EVERYONE) == 0  # read 4.5 s ago, nothing published: the same answer
    seconds[0] += 0.5
    assert await counts.get(services, EVERYONE) == 1
