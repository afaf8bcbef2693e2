"""store.intake.claim: whole learners in arrival order, never one another live worker holds, and cheap at any backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coachbox.store import intake as kept

T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def _keep(conn, n: int, address: str) -> None:
    conn.execute(
        "INSERT INTO inbound_queue (idempotency_key, address, payload, received_at) VALUES (?, ?, '{}', ?)",
        (f"in:whatsapp:SM{n:032d}", address, T0.isoformat()),
    )


def test_it_claims_whole_learners_oldest_first_and_skips_one_a_live_worker_holds(conn):
    for n, who in enumerate(["a", "b", "a", "c", "d"]):
        _keep(conn, n, f"whatsapp:+2547000000{who}")
    first = kept.claim(conn, "web-1", T0, limit=1, lease=LEASE)
    assert [(q.address[-1], q.id) for q in first] == [("a", 1), ("a", 3)]  # all of a's, in order
    # Another worker skips a (held by web-1 for the lease) and takes the next learners.
    second = kept.claim(conn, "web-2", T0 + timedelta(seconds=1), limit=2, lease=LEASE)
    assert [q.address[-1] for q in second] == ["b", "c"]
    # web-1 died: after its lease, its learner goes to whoever claims next.
    later = kept.claim(conn, "web-3", T0 + LEASE + timedelta(seconds=1), limit=1, lease=LEASE)
    assert [q.address[-1] for q in later] == ["a", "a"]


def test_the_check_for_held_learners_reads_only_claimed_rows(conn):
    for n in range(200):
        _keep(conn, n, f"whatsapp:+2547{n % 50:08d}")
    kept.claim(conn, "web-1", T0, limit=8, lease=LEASE)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        kept.claim(conn, "web-2", T0, limit=8, lease=LEASE)
    finally:
        conn.set_trace_callback(None)
    update = next(s for s in statements if s.lstrip().startswith("UPDATE inbound_queue"))
    plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + update)]
    assert any("USING INDEX inbound_queue_claimed" in step for step in plan), plan
