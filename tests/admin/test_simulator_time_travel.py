"""The simulator's time travel and reset: one test learner moves on (next lesson time, one day, the last lesson) through
the real scheduler on the box's own clock, which never moves; nobody else is touched."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from coachbox.content.importer import import_folder
from coachbox.store import time_travel
from tests.admin.conftest import add_learner, signed_in
from tests.conftest import DAYTIME, NIGHT

pytestmark = [pytest.mark.anyio, pytest.mark.at(DAYTIME)]  # 08:00 in Nairobi: lessons go out
API = "/api/v1/simulator/messages"
PHONE = "+15550100001"


async def _say(client, token: str, text: str) -> list[str]:
    _, response = await client.post(API, json={"phone": PHONE, "text": text}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    return [reply["body"] for reply in response.json["replies"]]


async def _start(client, conn, settings) -> tuple[str, int]:
    """An editor, and a test learner who signed up and got lesson 1 (Mobile Money Safety, lessons at 07:00)."""
    import_folder(conn, settings.content_dir, settings, progress=None)
    token = await signed_in(client, "bob@school.test")
    for text in ("hi", "yes", "1", "1"):
        await _say(client, token, text)
    assert any("Quiz:" in reply for reply in await _say(client, token, "7"))  # lesson 1 and its quiz
    learner_id = conn.execute("SELECT id FROM learners WHERE channel_key = ?", (f"sim:{PHONE}",)).fetchone()[0]
    return token, learner_id


async def _travel(client, token: str, to: str) -> str:
    _, response = await client.post(
        "/admin/simulator/travel", data={"csrf_token": token, "phone": PHONE, "to": to}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _lessons_sent(conn, learner_id: int) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT body FROM messages WHERE learner_id = ? AND kind = 'lesson' AND direction = 'out' ORDER BY id",
            (learner_id,),
        )
    ]


async def test_it_brings_the_next_lesson_now_through_the_scheduler_without_moving_the_clock(
    app, client, cast, conn, settings, clock
):
    token, learner_id = await _start(client, conn, settings)
    other = add_learner(conn, phone="+254700000009", last_inbound_at="2026-03-01T10:00:00+00:00")
    before = clock.now()
    assert len(_lessons_sent(conn, learner_id)) == 1

    location = await _travel(client, token, "lesson")
    assert "moved=lesson" in location
    lessons = _lessons_sent(conn, learner_id)
    assert len(lessons) == 2 and "Keep your PIN secret" in lessons[1]  # lesson 2, as the daily fan-out sends it
    assert clock.now() == before  # the box's clock did not move
    # Lesson 1 and the chat moved into the past (about a day), so today's lesson is lesson 2, claimed today.
    first = conn.execute(
        "SELECT delivered_at FROM progress WHERE learner_id = ? ORDER BY delivered_at LIMIT 1", (learner_id,)
    ).fetchone()[0]
    assert clock.now() - timedelta(hours=25) < datetime.fromisoformat(first) < clock.now() - timedelta(hours=20)
    claims = conn.execute(
        "SELECT key, status FROM deliveries WHERE learner_id = ? AND kind = 'daily_lesson' ORDER BY key", (learner_id,)
    ).fetchall()
    assert [tuple(c) for c in claims][-1] == ("2026-03-02", "done")
    untouched = conn.execute("SELECT last_inbound_at FROM learners WHERE id = ?", (other,)).fetchone()[0]
    assert untouched == "2026-03-01T10:00:00+00:00"
    # On its way at once (the route runs the sender; on a busy machine a rate slot may put it back a moment).
    status = conn.execute(
        "SELECT status FROM messages WHERE learner_id = ? AND kind = 'lesson' ORDER BY id DESC", (learner_id,)
    ).fetchone()[0]
    assert status in ("queued", "sending", "sent", "delivered")
    _, page = await client.get(location)
    assert "now at their next lesson time" in page.text
    assert 'id="sim-coming"' in page.text and "lesson 3 of 7 next" in page.text
    # The phone: the lesson's *title* in bold (WhatsApp formatting), the chat opening at the newest message.
    assert 'class="phone"' in page.text and "data-newest" in page.text
    # The phone shows what was sent before the page was made (`status` was read before it was asked for); a rate
    # slot on a busy machine may hold the lesson back a moment.
    assert "<strong>Keep your PIN secret</strong>" in page.text or status not in ("sent", "delivered")


async def test_one_day_later_brings_the_days_lesson_and_the_next_one_is_a_day_on(
    app, client, cast, conn, settings, clock
):
    token, learner_id = await _start(client, conn, settings)
    location = await _travel(client, token, "day")
    assert "moved=day" in location
    assert len(_lessons_sent(conn, learner_id)) == 2
    # A day after the chat: the learner wrote 24 hours ago; the day's lesson was sent, the next one is ahead.
    row = conn.execute("SELECT last_inbound_at, next_lesson_at FROM learners WHERE id = ?", (learner_id,)).fetchone()
    assert clock.now() - datetime.fromisoformat(row[0]) == timedelta(days=1)
    assert datetime.fromisoformat(row[1]) > clock.now()
    rows = conn.execute("SELECT kind, status FROM messages WHERE learner_id = ?", (learner_id,))
    statuses = [tuple(r) for r in rows]
    assert {s for _, s in statuses} <= {"received", "queued", "sending", "sent", "delivered"}, statuses
    _, page = await client.get(location)
    assert "One day went by" in page.text


async def test_a_learner_silent_for_a_day_gets_the_nudge_and_their_reply_brings_the_lesson(
    app, client, cast, conn, settings, clock
):
    token, learner_id = await _start(client, conn, settings)
    await _travel(client, token, "lesson")
    await _travel(client, token, "day")  # now silent for 47 hours: WhatsApp's window is closed
    nudge = conn.execute(
        "SELECT body, status FROM messages WHERE learner_id = ? AND kind = 'nudge'", (learner_id,)
    ).fetchone()
    assert (
        nudge is not None
        and "is ready. Reply to get it" in nudge[0]
        and nudge[1] in ("queued", "sending", "sent", "delivered")
    )
    assert len(_lessons_sent(conn, learner_id)) == 2  # the lesson waits for the reply
    # The next lesson is tomorrow at the lesson time (07:00 in Nairobi), not moved with the history.
    following = conn.execute("SELECT next_lesson_at FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
    assert following == "2026-03-03T04:00:00+00:00"
    replies = await _say(client, token, "ok")
    assert any("Lesson 3 of 7" in reply for reply in replies)


async def test_skip_to_the_end_brings_the_last_lesson_and_its_quiz_gives_the_certificate(
    app, client, cast, conn, settings
):
    token, learner_id = await _start(client, conn, settings)
    assert "moved=end" in await _travel(client, token, "end")
    lessons = _lessons_sent(conn, learner_id)
    assert "Budget and loan traps" in lessons[-1] or "loan" in lessons[-1].lower()
    done = conn.execute(
        "SELECT COUNT(*) FROM progress WHERE learner_id = ? AND completed_at IS NOT NULL AND passed = 1", (learner_id,)
    ).fetchone()[0]
    assert done == 6  # lessons 1-6 marked done with every answer right
    last = conn.execute(
        """SELECT q.kind, q.answer FROM questions q JOIN lessons l ON l.id = q.lesson_id JOIN courses c
           ON c.id = l.course_id WHERE c.slug = 'mobile-money-safety' AND l.position = 7 ORDER BY q.position"""
    ).fetchall()
    # Every answer right, one question at a time (the lesson ends with the first).
    replies: list[str] = []
    for kind, answer in last:
        right = json.loads(answer)
        said = "ABCDEF"[right - 1] if kind == "choice" else str(right).lower() if kind == "true_false" else right[0]
        replies += await _say(client, token, said)
    everything = "\n".join(replies)
    assert "certificate" in everything.lower(), everything
    assert (
        conn.execute("SELECT status FROM enrollments WHERE learner_id = ?", (learner_id,)).fetchone()[0] == "completed"
    )


@pytest.mark.at(NIGHT)
async def test_at_the_learners_night_it_moves_nothing_and_says_why(app, client, cast, conn, settings):
    import_folder(conn, settings.content_dir, settings, progress=None)
    token = await signed_in(client, "bob@school.test")
    await _say(client, token, "hi")
    learner_id = conn.execute("SELECT id FROM learners WHERE channel_key = ?", (f"sim:{PHONE}",)).fetchone()[0]
    before = conn.execute("SELECT created_at FROM messages WHERE learner_id = ? ORDER BY id", (learner_id,)).fetchall()
    location = await _travel(client, token, "lesson")
    assert "moved=quiet" in location
    after = conn.execute("SELECT created_at FROM messages WHERE learner_id = ? ORDER BY id", (learner_id,)).fetchall()
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    _, page = await client.get(location)
    assert "It is night for the test learner" in page.text


async def test_reset_asks_first_then_erases_only_the_test_learner(app, client, cast, conn, settings):
    token, learner_id = await _start(client, conn, settings)
    other = add_learner(conn, phone="+254700000009")
    _, asked = await client.post("/admin/simulator/reset", data={"csrf_token": token, "phone": PHONE})
    assert asked.status_code == 200 and "Start again with a new test learner?" in asked.text
    assert conn.execute("SELECT status FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] != "deleted"
    _, done = await client.post(
        "/admin/simulator/reset",
        data={"csrf_token": token, "phone": PHONE, "confirm": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "moved=reset" in done.headers["location"]
    assert conn.execute("SELECT status FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] == "deleted"
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE learner_id = ?", (learner_id,)).fetchone()[0] == 0
    assert conn.execute("SELECT status FROM learners WHERE id = ?", (other,)).fetchone()[0] == "active"
    assert conn.execute("SELECT 1 FROM audit_log WHERE action = 'simulator.reset'").fetchone()
    # A new hi is a new learner.
    assert any("Welcome" in reply for reply in await _say(client, token, "hi"))
    new = conn.execute("SELECT id FROM learners WHERE channel_key = ?", (f"sim:{PHONE}",)).fetchone()[0]
    assert new != learner_id


async def test_viewers_cannot_travel_or_reset(app, client, cast, conn, settings):
    token = await signed_in(client, "charlie@school.test")
    for path in ("/admin/simulator/travel", "/admin/simulator/reset"):
        _, response = await client.post(path, data={"csrf_token": token, "phone": PHONE, "to": "day"})
        assert response.status_code == 403


def test_shift_learner_moves_only_that_learners_instants_and_local_dates(conn):
    mine = add_learner(conn, phone="+254700000001", last_inbound_at="2026-03-02T04:00:00+00:00")
    theirs = add_learner(conn, phone="+254700000002", last_inbound_at="2026-03-02T04:00:00+00:00")
    for learner_id in (mine, theirs):
        conn.execute(
            "UPDATE learners SET last_active_date = '2026-03-02', next_lesson_at = '2026-03-03T04:00:00+00:00' "
            "WHERE id = ?",
            (learner_id,),
        )
        for key in ("2026-03-01", "2026-03-02"):  # two days in a row: moving them back must not collide
            conn.execute(
                "INSERT INTO deliveries (learner_id, kind, key, created_at) VALUES (?, 'daily_lesson', ?, ?)",
                (learner_id, key, f"{key}T04:00:00+00:00"),
            )
            conn.execute(
                """INSERT INTO messages (learner_id, direction, channel, address, kind, idempotency_key, status,
                                         created_at, updated_at)
                   VALUES (?, 'out', 'whatsapp', 'x', 'lesson', ?, 'sent', ?, ?)""",
                (
                    learner_id,
                    f"daily_lesson:{learner_id}:{key}:out:0",
                    f"{key}T04:00:00+00:00",
                    f"{key}T04:00:00+00:00",
                ),
            )
    time_travel.shift_learner(conn, mine, timedelta(hours=24), 1, datetime.fromisoformat(DAYTIME))
    row = conn.execute("SELECT * FROM learners WHERE id = ?", (mine,)).fetchone()
    assert row["last_inbound_at"] == "2026-03-01T04:00:00+00:00" and row["last_active_date"] == "2026-03-01"
    assert row["next_lesson_at"] == "2026-03-02T04:00:00+00:00"
    keys = [r[0] for r in conn.execute("SELECT key FROM deliveries WHERE learner_id = ? ORDER BY key", (mine,))]
    assert keys == ["2026-02-28", "2026-03-01"]
    moved = [
        r[0] for r in conn.execute("SELECT idempotency_key FROM messages WHERE learner_id = ? ORDER BY id", (mine,))
    ]
    assert moved == [f"daily_lesson:{mine}:2026-02-28:out:0", f"daily_lesson:{mine}:2026-03-01:out:0"]
    other = conn.execute("SELECT * FROM learners WHERE id = ?", (theirs,)).fetchone()
    assert other["last_inbound_at"] == "2026-03-02T04:00:00+00:00" and other["last_active_date"] == "2026-03-02"
    keys = [r[0] for r in conn.execute("SELECT key FROM deliveries WHERE learner_id = ? ORDER BY key", (theirs,))]
    assert keys == ["2026-03-01", "2026-03-02"]


async def test_coming_up_lists_what_is_still_to_go(app, client, cast, conn, settings, clock):
    token, learner_id = await _start(client, conn, settings)
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, idempotency_key, status,
                                 next_attempt_at, created_at, updated_at)
           VALUES (?, 'out', 'simulator', ?, 'Our school trip is on *Friday*', 'broadcast', 'b:1', 'queued', ?, ?, ?)""",
        (
            learner_id,
            f"sim:{PHONE}",
            (clock.now() + timedelta(hours=3)).isoformat(),
            clock.now().isoformat(),
            clock.now().isoformat(),
        ),
    )
    _, page = await client.get(f"/admin/simulator?phone={PHONE.replace('+', '%2B')}")
    coming = page.text[page.text.index('id="sim-coming"') :]
    assert "broadcast: “Our school trip is on *Friday*”" in coming
    assert "Next lesson" in coming and "“Keep your PIN secret”" in coming


async def test_it_says_why_when_there_is_nothing_to_travel_to(app, client, cast, conn, settings):
    import_folder(conn, settings.content_dir, settings, progress=None)
    token = await signed_in(client, "bob@school.test")
    assert "moved=nobody" in await _travel(client, token, "lesson")  # no test learner yet
    await _say(client, token, "hi")  # signing up: no course yet
    for to in ("lesson", "day", "end"):
        location = await _travel(client, token, to)
        assert "moved=nothing" in location
    _, page = await client.get(location)
    assert "Nothing is scheduled for the test learner" in page.text
