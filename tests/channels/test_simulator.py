"""The simulator's phone (channels.simulator.Feed): each message the box sends a learner once, when it is sent."""

from __future__ import annotations

from datetime import timedelta

from coachbox.channels.simulator import Feed
from coachbox.store.messages import OutboxDraft, enqueue_outbound


def _learner(conn, phone: str = "+254700000042") -> int:
    return conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, created_at, updated_at)
           VALUES (?, 'simulator', ?, '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (f"sim:{phone}", phone),
    ).lastrowid


def _write(conn, learner_id: int, body: str, now, **columns) -> int:
    message_id = enqueue_outbound(
        conn,
        learner_id=learner_id,
        channel="simulator",
        address="sim:+254700000042",
        draft=OutboxDraft(body, idempotency_key=f"test:{body}"),
        now=now,
    )
    assert message_id is not None
    if columns:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(f"UPDATE messages SET {assignments} WHERE id = ?", (*columns.values(), message_id))
    return message_id


def _bodies(sent) -> list[str]:
    return [message.body for message in sent]


def test_it_shows_a_message_held_back_when_it_goes_out_after_newer_ones(conn, clock):
    now = clock.now()
    learner_id = _learner(conn)
    _write(conn, learner_id, "Good morning", now, status="sent", sent_at=now.isoformat())
    held = _write(conn, learner_id, "A reminder", now, next_attempt_at=(now + timedelta(hours=8)).isoformat())
    _write(conn, learner_id, "Your answer", now, status="delivered", sent_at=now.isoformat())
    _write(conn, learner_id, "Never went", now, status="failed")
    feed = Feed(learner_id)

    assert _bodies(feed.read(conn)) == ["Good morning", "Your answer"]
    assert feed.read(conn) == []  # each message once
    assert not feed.due(now)  # the held one goes later: nothing to wait for now
    assert feed.due(now + timedelta(hours=9))

    conn.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE id = ?", (now.isoformat(), held))
    assert _bodies(feed.read(conn)) == ["A reminder"]  # shown when it went out, though older than the answer


def test_a_reader_joining_later_gets_what_is_still_to_send_up_to_where_it_joins(conn, clock):
    """The simulator page after a reload: it shows the rows sent so far and follows from the newest it read."""
    now = clock.now()
    learner_id = _learner(conn)
    _write(conn, learner_id, "Shown on the page", now, status="sent", sent_at=now.isoformat())
    queued = _write(conn, learner_id, "On its way", now)
    feed = Feed(learner_id, after=queued)

    assert feed.read(conn) == [] and feed.due(now)
    conn.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE id = ?", (now.isoformat(), queued))
    assert _bodies(feed.read(conn)) == ["On its way"]
    later = _write(conn, learner_id, "Later", now, status="sent", sent_at=now.isoformat())
    assert [m.id for m in feed.read(conn)] == [later]
