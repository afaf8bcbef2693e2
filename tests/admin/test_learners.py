"""Learner list, detail with transcript, send message through the outbox, pause/resume, export and erase."""

from __future__ import annotations

import json

import pytest

from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def add_message(conn, learner_id, body, direction="in", status="received", error_code=None):
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, error_code, created_at,
                                 updated_at) VALUES (?, ?, 'whatsapp', 'whatsapp:+1', ?, 'reply', ?, ?,
                                 '2026-03-01T10:00:00+00:00', '2026-03-01T10:00:00+00:00')""",
        (learner_id, direction, body, status, error_code),
    )


async def test_it_lists_searches_and_filters_learners(app, client, cast, conn):
    add_learner(conn, name="Amina Odhiambo", phone="+254700000001", cohort="Form 2")
    add_learner(conn, name="Baraka", phone="+254711111111", status="paused")
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/learners")
    assert "Amina Odhiambo" in page.text and "Baraka" in page.text
    _, page = await client.get("/admin/learners?q=amina")
    assert "Amina" in page.text and "Baraka" not in page.text
    _, page = await client.get("/admin/learners?q=0711111")
    assert "Baraka" in page.text and "Amina" not in page.text
    _, page = await client.get("/admin/learners?status=paused")
    assert "Baraka" in page.text and "Amina" not in page.text
    _, page = await client.get("/admin/learners?cohort=Form+2")
    assert "Amina" in page.text and "Baraka" not in page.text
    _, page = await client.get("/admin/learners?inactive=3")
    assert "Amina" in page.text  # never wrote: counts as silent


async def test_it_pages_through_learners(app, client, cast, conn):
    for i in range(120):
        add_learner(conn, name=f"Learner {i:03d}", phone=f"+2547000{i:05d}")
    await signed_in(client, "charlie@school.test")
    _, first = await client.get("/admin/learners")
    assert "Learner 119" in first.text and "Learner 069" not in first.text and "Page 1 of 3" in first.text
    _, third = await client.get("/admin/learners?page=3")
    assert "Learner 000" in third.text


async def test_it_escapes_hostile_names_and_messages(app, client, cast, conn):
    learner_id = add_learner(conn, name=None, profile_name=XSS)
    add_message(conn, learner_id, XSS)
    await signed_in(client, "charlie@school.test")
    for path in ("/admin/learners", f"/admin/learners/{learner_id}"):
        _, page = await client.get(path)
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;" in page.text


async def test_it_shows_the_transcript_with_twilio_error_meanings(app, client, cast, conn):
    learner_id = add_learner(conn)
    add_message(conn, learner_id, "Hello coach")
    add_message(conn, learner_id, "Lesson 1", direction="out", status="failed", error_code="63016")
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "Hello coach" in page.text and "Lesson 1" in page.text
    assert "Outside the 24-hour window" in page.text
    assert "Send a message" not in page.text  # viewers look only


async def test_it_says_why_a_nudge_waits_without_a_template(app, client, cast, conn):
    learner_id = add_learner(conn)
    add_message(conn, learner_id, "Your lesson is ready", direction="out", status="waiting")
    conn.execute(
        "UPDATE messages SET kind = 'nudge', error_message = ? WHERE learner_id = ?",
        (
            "waiting for the learner to write (no template configured: outside the 24-hour window and no "
            "[twilio.templates] entry for 'lesson_nudge')",
            learner_id,
        ),
    )
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "waiting for the learner to write (no template configured" in page.text


async def test_it_queues_a_message_in_the_outbox_and_explains_the_window(app, client, cast, conn, clock):
    learner_id = add_learner(conn, last_inbound_at="2026-03-02T01:00:00+00:00")
    token = await signed_in(client, "bob@school.test")
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "window is <strong>open</strong>" in page.text
    _, response = await client.post(
        f"/admin/learners/{learner_id}/send",
        data={"body": "See you at 9!", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    row = conn.execute("SELECT * FROM messages WHERE learner_id = ? AND direction = 'out'", (learner_id,)).fetchone()
    assert row["body"] == "See you at 9!" and row["status"] == "queued" and row["address"] == "whatsapp:+254700000001"
    assert conn.execute("SELECT action FROM audit_log WHERE action = 'learner.message'").fetchone()
    clock.advance(hours=30)
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "window is <strong>closed</strong>" in page.text and "waits" in page.text


async def test_it_does_not_let_viewers_change_learners(app, client, cast, conn):
    learner_id = add_learner(conn)
    token = await signed_in(client, "charlie@school.test")
    for action, data in (("send", {"body": "hi"}), ("pause", {}), ("move", {"course_id": "1"}), ("cohort", {})):
        _, response = await client.post(f"/admin/learners/{learner_id}/{action}", data={**data, "csrf_token": token})
        assert response.status_code == 403, action
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


async def test_it_pauses_and_resumes(app, client, cast, conn):
    learner_id = add_learner(conn)
    token = await signed_in(client, "bob@school.test")
    await client.post(f"/admin/learners/{learner_id}/pause", data={"csrf_token": token})
    assert conn.execute("SELECT status FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] == "paused"
    await client.post(f"/admin/learners/{learner_id}/resume", data={"csrf_token": token})
    assert conn.execute("SELECT status FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] == "active"


async def test_it_exports_and_erases_a_learner(app, client, cast, conn, services, settings):
    learner_id = add_learner(conn, name="Zawadi", phone="+254799123456", profile_name="Zawadi Achieng")
    add_message(conn, learner_id, "my data")
    traces = _personal_traces(conn, services, settings, learner_id)
    token = await signed_in(client, "alice@school.test")
    _, export = await client.get(f"/admin/learners/{learner_id}/export")
    data = json.loads(export.text)
    assert data["learner"][0]["name"] == "Zawadi" and data["messages"][0]["body"] == "my data"
    # The first step only says what erasing does (counts included); nothing is erased until it is confirmed.
    _, asked = await client.post(f"/admin/learners/{learner_id}/delete", data={"csrf_token": token})
    assert (
        asked.status_code == 200
        and "Erase Zawadi for good?" in asked.text
        and "2 messages, 1 certificate," in asked.text
    )
    assert "cannot be undone" in asked.text and 'name="confirm" value="yes"' in asked.text
    assert conn.execute("SELECT name FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] == "Zawadi"
    _, done = await client.post(
        f"/admin/learners/{learner_id}/delete", data={"csrf_token": token, "confirm": "DELETE"}, follow_redirects=False
    )
    assert done.status_code == 303
    # The same erasure as the learner's own DELETE: an anonymous stub keeps school totals, nothing names them.
    assert conn.execute("SELECT status FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] == "deleted"
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    dump = "\n".join(conn.iterdump())
    for secret in ("254799123456", "Zawadi", "my data"):
        assert secret not in dump, secret
    assert _turn_state(conn, learner_id) == (0, 0)  # session and rate-limit counters gone with the learner
    assert not traces["media"].exists() and not traces["certificate"].exists()
    audit = conn.execute("SELECT action, target FROM audit_log WHERE action = 'learner.delete'").fetchone()
    assert tuple(audit) == ("learner.delete", f"learner:{learner_id}")
    _, page = await client.get("/admin/learners")
    assert "Zawadi" not in page.text


def _personal_traces(conn, services, settings, learner_id):
    """What a learner leaves behind besides their row: a voice note on disk, a certificate with their name,
    a payment from their number, their session and rate-limit counters in the cache."""
    from coachbox.conversation.state import State
    from coachbox.turns import ratelimit, sessions

    media = settings.data_dir / "media" / "inbound" / "MMzawadi.ogg"
    certificate = settings.data_dir / "certificates" / "K7QM-3XPA.pdf"
    for path in (media, certificate):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"personal")
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, status,
                                          created_at, updated_at)
                    VALUES (?, 'in', 'whatsapp', 'whatsapp:+254799123456', '', ?, 'inbound', 'received',
                            '2026-03-01T10:00:00+00:00', '2026-03-01T10:00:00+00:00')""",
        (
            learner_id,
            json.dumps(
                [{"url": "https://api.twilio.com/m", "content_type": "audio/ogg", "path": "media/inbound/MMzawadi.ogg"}]
            ),
        ),
    )
    course_id = conn.execute("""INSERT INTO courses (slug, language, title, created_at, updated_at)
                                VALUES ('c', 'en', 'Course', '2026-03-01', '2026-03-01')""").lastrowid
    conn.execute(
        """INSERT INTO certificates (code, learner_id, course_id, learner_name, score, path, issued_at)
                    VALUES ('K7QM-3XPA', ?, ?, 'Zawadi Achieng', 90, 'certificates/K7QM-3XPA.pdf', '2026-03-01')""",
        (learner_id, course_id),
    )
    conn.execute(
        """INSERT INTO payments (learner_id, plan, provider, amount_minor, currency, phone, status,
                                          period_days, created_at, updated_at)
                    VALUES (?, 'monthly', 'mpesa', 20000, 'KES', '+254799123456', 'paid', 30, '2026-03-01',
                            '2026-03-01')""",
        (learner_id,),
    )
    now = services.clock.now()
    sessions.save(conn, learner_id, State(flow="idle"), 24, now)
    ratelimit.check(conn, learner_id, now, ratelimit.Limits(per_hour=30, per_minute=5))
    assert _turn_state(conn, learner_id) == (1, 1)
    return {"media": media, "certificate": certificate}


async def test_it_exports_the_list_as_csv_without_formula_injection(app, client, cast, conn):
    add_learner(conn, name='=HYPERLINK("http://evil")')
    await signed_in(client, "bob@school.test")
    _, response = await client.get("/admin/learners.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "'=HYPERLINK" in response.text


async def test_it_says_when_reminders_are_paused_after_three_unanswered(app, client, cast, conn):
    learner_id = add_learner(conn, last_inbound_at="2026-02-28T09:00:00+00:00")
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "on: at most one a day while the learner is silent, none after 3 unanswered" in page.text
    for kind, day in (("nudge", "2026-03-01"), ("reminder", "2026-03-02"), ("nudge", "2026-03-04")):
        conn.execute(
            "INSERT INTO deliveries (learner_id, kind, key, status, created_at) VALUES (?, ?, ?, 'done', ?)",
            (learner_id, kind, day, f"{day}T05:00:00+00:00"),
        )
        if day == "2026-03-02":
            _, page = await client.get(f"/admin/learners/{learner_id}")
            assert "2 unanswered since their last message (latest 2026-03-02); they stop at 3" in page.text
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert "paused: 3 unanswered (they start again when the learner writes)" in page.text


def _turn_state(conn, learner_id: int) -> tuple[int, int]:
    """(sessions, rate-limit rows) the learner has (migration 0030)."""
    return (
        conn.execute("SELECT COUNT(*) FROM learner_sessions WHERE learner_id = ?", (learner_id,)).fetchone()[0],
        conn.execute("SELECT COUNT(*) FROM learner_rate_limits WHERE learner_id = ?", (learner_id,)).fetchone()[0],
    )
