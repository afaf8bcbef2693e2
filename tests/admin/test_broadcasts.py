"""Broadcasts: compose with audience and time, validation, delivery progress (page and live), cancel, roles."""

from __future__ import annotations

import json

import pytest

from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
XSS = "<script>alert(1)</script>"


def add_outbox(conn, broadcast_id, learner_id, status):
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, idempotency_key, status,
                                 created_at, updated_at)
           VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', 'News', 'broadcast', ?, ?, '2026-03-02T05:00:00+00:00',
                   '2026-03-02T05:00:00+00:00')""",
        (learner_id, f"broadcast:{broadcast_id}:{learner_id}", status),
    )


async def test_it_schedules_a_broadcast_to_a_cohort_in_the_school_time_zone(app, client, cast, conn):
    add_learner(conn, phone="+254700000001", cohort="Form 2")
    add_learner(conn, phone="+254700000002", cohort="Form 2", status="paused")
    opted = add_learner(conn, phone="+254700000003", cohort="Form 2")
    conn.execute("UPDATE learners SET opted_out = 1 WHERE id = ?", (opted,))
    add_learner(conn, phone="+254700000004", cohort="Form 3")
    token = await signed_in(client, "bob@school.test")
    _, response = await client.post(
        "/admin/broadcasts",
        data={
            "csrf_token": token,
            "body": f"Exams on Friday {XSS}",
            "audience": "cohort",
            "cohort": "Form 2",
            "when": "2026-03-03T09:00",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    row = conn.execute("SELECT * FROM broadcasts").fetchone()
    assert row["audience"] == "cohort:Form 2" and row["status"] == "scheduled" and row["template_key"] == "broadcast"
    assert row["scheduled_at"] == "2026-03-03T06:00:00+00:00"  # 09:00 in Nairobi
    audit = conn.execute("SELECT detail FROM audit_log WHERE action = 'broadcast.create'").fetchone()
    assert json.loads(audit["detail"])["reach"] == 1  # paused and opted-out learners are not reached
    _, page = await client.get(response.headers["location"])
    assert "about 1 learners" in page.text and "&lt;script&gt;" in page.text and XSS not in page.text
    _, listing = await client.get("/admin/broadcasts")
    assert "cohort:Form 2" in listing.text and XSS not in listing.text


async def test_it_refuses_an_empty_body_a_past_time_and_an_unknown_course(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    _, page = await client.post(
        "/admin/broadcasts",
        data={"csrf_token": token, "body": "", "audience": "course", "course_id": "99", "when": "2020-01-01T09:00"},
    )
    assert page.status_code == 400
    assert "Write a message" in page.text and "Choose a course" in page.text and "That time has passed" in page.text
    assert conn.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0


async def test_it_shows_delivery_progress_and_streams_it(app, client, cast, conn):
    learners = [add_learner(conn, phone=f"+25470000000{i}") for i in range(5)]
    broadcast_id = conn.execute("""INSERT INTO broadcasts (body, audience, scheduled_at, status, created_at)
                                   VALUES ('News', 'all', '2026-03-02T05:00:00+00:00', 'sending',
                                           '2026-03-02T05:00:00+00:00')""").lastrowid
    for learner_id, status in zip(learners, ("queued", "delivered", "delivered", "read", "failed")):
        add_outbox(conn, broadcast_id, learner_id, status)
    add_outbox(conn, broadcast_id + 1, learners[0], "delivered")  # another broadcast's row: not counted
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/broadcasts/{broadcast_id}")
    assert '<b data-key="delivered">2</b>' in page.text and '<b data-key="total">5</b>' in page.text
    assert "Cancel broadcast" not in page.text  # viewers look only
    _, stream = await client.get(f"/admin/events/broadcasts/{broadcast_id}?once=1")
    assert stream.headers["content-type"].startswith("text/event-stream")
    data = json.loads(stream.text.split("data: ", 1)[1].split("\n", 1)[0])
    assert data["delivered"] == "2" and data["failed"] == "1" and data["total"] == "5"
    assert data["status"] == "being queued for each learner"  # the fan-out is running (broadcast status 'sending')


async def test_it_cancels_a_broadcast_and_its_unsent_messages(app, client, cast, conn):
    a, b = add_learner(conn, phone="+254700000001"), add_learner(conn, phone="+254700000002")
    broadcast_id = conn.execute("""INSERT INTO broadcasts (body, audience, scheduled_at, status, created_at)
                                   VALUES ('News', 'all', '2026-03-02T05:00:00+00:00', 'sending',
                                           '2026-03-02T05:00:00+00:00')""").lastrowid
    add_outbox(conn, broadcast_id, a, "queued")
    add_outbox(conn, broadcast_id, b, "delivered")
    viewer = type(client)(app)
    viewer_token = await signed_in(viewer, "charlie@school.test")
    _, refused = await viewer.post(f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": viewer_token})
    assert refused.status_code == 403
    token = await signed_in(client, "bob@school.test")
    # The first step only says what cancelling does; nothing changes until it is confirmed.
    _, asked = await client.post(f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": token})
    assert asked.status_code == 200 and "Cancel broadcast" in asked.text and "Keep it" in asked.text
    assert "1 message not sent yet will not go out" in asked.text and "cannot take them back" in asked.text
    assert conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()[0] == "sending"
    _, done = await client.post(
        f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()[0] == "cancelled"
    statuses = dict(conn.execute("SELECT learner_id, status FROM messages").fetchall())
    assert statuses == {a: "cancelled", b: "delivered"}
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'broadcast.cancel'").fetchone()[0] == 1
    _, again = await client.post(f"/admin/broadcasts/{broadcast_id}/cancel", data={"csrf_token": token})
    assert again.status_code == 400
