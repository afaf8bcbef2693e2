"""Dashboard counts, SVG charts from daily_stats, and the live event streams."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from coachbox.admin import dashboard
from coachbox.schedule.rollups import roll_up
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio


async def test_it_shows_live_counts_and_charts_from_daily_stats(app, client, cast, conn):
    add_learner(conn, last_inbound_at="2026-03-02T04:00:00+00:00")
    add_learner(conn, phone="+254700000002", last_inbound_at="2026-02-20T04:00:00+00:00")
    for day, value in (("2026-02-28", 12), ("2026-03-01", 20)):
        conn.execute("INSERT INTO daily_stats (date, metric, value) VALUES (?, 'lessons_delivered', ?)", (day, value))
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    assert page.status_code == 200
    assert '<b data-key="active_1d">1</b>' in page.text and '<b data-key="active_30d">2</b>' in page.text
    assert 'id="chart-lessons"><figcaption>Lessons delivered vs completed (32 / 0)</figcaption><svg' in page.text
    assert "28 Feb · delivered: 12" in page.text
    assert "No quiz finished yet." in page.text  # a chart of zeros is an empty state that says why
    assert 'id="day-one"' not in page.text


async def test_it_highlights_failed_messages_with_their_meaning(app, client, cast, conn):
    learner_id = add_learner(conn)
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, error_code,
                    created_at, updated_at) VALUES (?, 'out', 'whatsapp', 'x', 'hi', 'failed', '63003',
                    '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    )
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    assert "not on WhatsApp" in page.text
    assert 'fill="#a4161a"' in page.text


async def test_it_streams_dashboard_counts_and_new_transcript_rows(app, client, cast, conn):
    learner_id = add_learner(conn)
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, created_at,
                    updated_at) VALUES (?, 'in', 'whatsapp', 'x', '<b>hi</b>', 'received',
                    '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    )
    await signed_in(client, "charlie@school.test")
    _, stream = await client.get("/admin/events/dashboard?once=1")
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: update" in stream.text and '"learners": "1"' in stream.text
    _, rows = await client.get(f"/admin/events/learners/{learner_id}?after=0&once=1")
    assert "event: message-row" in rows.text and "\\u003c" not in rows.text and "<b>hi</b>" in rows.text


async def test_it_shows_the_share_of_lesson_days_inside_the_window(app, client, cast, conn, services):
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    assert 'id="window-share"' not in page.text  # no lesson days yet: no line
    rows = [  # (phone, day, daily_lesson status, held for the learner's reply?)
        ("+254700000011", "2026-03-01", "done", False),
        ("+254700000011", "2026-03-02", "done", False),
        ("+254700000012", "2026-03-01", "done", False),
        ("+254700000012", "2026-03-02", "done", True),  # outside the window: the nudge template, lesson held
        ("+254700000013", "2026-03-02", "empty", True),  # held without a nudge (the back-off): also outside
        ("+254700000014", "2026-03-02", "empty", False),  # course finished: not a lesson day
    ]
    ids = {}
    for phone, day, status, held in rows:
        if phone not in ids:
            ids[phone] = add_learner(conn, phone=phone)
        learner_id = ids[phone]
        conn.execute(
            "INSERT INTO deliveries (learner_id, kind, key, status, created_at) VALUES (?, 'daily_lesson', ?, ?, ?)",
            (learner_id, day, status, f"{day}T04:00:00+00:00"),
        )
        if held:
            conn.execute(
                "INSERT INTO deliveries (learner_id, kind, key, status, created_at) VALUES (?, 'held_lesson', ?, 'pending', ?)",
                (learner_id, day, f"{day}T04:00:00+00:00"),
            )
    services.cache.clear()  # today's (and yesterday's, not rolled up yet) figures are read once a minute
    _, page = await client.get("/admin/")
    assert "Lesson days inside WhatsApp's 24-hour window: <strong>60%</strong> (3 of 5)" in page.text
    # Once a day is rolled up, its lesson days come from daily_stats: nothing rescans 30 days of deliveries.
    roll_up(conn, date(2026, 3, 1), "Africa/Nairobi")
    conn.execute("DELETE FROM deliveries WHERE key = '2026-03-01'")
    services.cache.clear()
    _, page = await client.get("/admin/")
    assert "Lesson days inside WhatsApp's 24-hour window: <strong>60%</strong> (3 of 5)" in page.text


async def test_figures_older_than_a_minute_are_shown_then_read_again_in_the_background(app, client, cast, conn, clock):
    """Issue #16: no teacher waits for the once-a-minute figures once they have been read: older than a minute,
    the page shows them as they are and a read connection reads them again for the next visit."""
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    assert "not on WhatsApp" not in page.text
    learner_id = add_learner(conn)
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, error_code,
                    created_at, updated_at) VALUES (?, 'out', 'whatsapp', 'x', 'hi', 'failed', '63003',
                    '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    )
    clock.advance(seconds=30)
    _, page = await client.get("/admin/")
    assert "not on WhatsApp" not in page.text  # read less than a minute ago
    clock.advance(seconds=31)
    _, page = await client.get("/admin/")
    assert "not on WhatsApp" not in page.text  # shown as they were, while they are read again
    for _ in range(200):  # the background read, on the app's loop
        if not dashboard.refreshing(app):
            break
        await asyncio.sleep(0.01)
    _, page = await client.get("/admin/")
    assert "not on WhatsApp" in page.text


async def test_the_warmer_reads_the_figures_before_any_teacher_asks(app, client, cast, conn, clock, monkeypatch):
    """Issue #16: not even the first visit of the day waits for the once-a-minute figures: the web worker reads them
    in the background for the whole box from the start, and for each class scope a teacher looked at."""
    monkeypatch.setattr(dashboard, "WARM_SECONDS", 0.05)
    await client.get("/admin/login")  # the app's services exist once it has served a request
    tz = app.ctx.services.settings.org.default_timezone
    key = dashboard._minute_key(clock.now(), tz, None)  # the whole box's part, shared by every teacher
    app.ctx.services.cache.delete(key)
    dashboard.start_warmer(app)
    try:
        for _ in range(300):
            if app.ctx.services.cache.get(key) is not None:
                break
            await asyncio.sleep(0.01)
        assert app.ctx.services.cache.get(key)["as_of"] == clock.now().isoformat()
        form_2 = ("learners.id IN (SELECT learner_id FROM learner_classes WHERE class_name IN (?))", ("Form 2",))
        app.ctx.dashboard_scopes[form_2] = clock.now()  # as a visit of a teacher of Form 2 records it
        scoped = dashboard._minute_key(clock.now(), tz, (form_2[0], list(form_2[1])))
        for _ in range(300):
            if app.ctx.services.cache.get(scoped) is not None:
                break
            await asyncio.sleep(0.01)
        assert app.ctx.services.cache.get(scoped) is not None
    finally:
        await dashboard.stop_warmer(app)
