"""The sender's claim at scale (issue #15): read in claim order from messages_outbox_claim (migration 0029), it picks
exactly the rows the rule says (each learner's rows in order, answers first and never behind a held proactive row,
held rows skipped), claims each row once, and reads about as many rows whatever the backlog holds."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta

from coachbox.channels.outbox import _claim_due
from coachbox.store import messages, transaction

START = datetime.fromisoformat("2026-03-02T05:00:00+00:00")
PENDING = ("queued", "retry")


def _fill(conn: sqlite3.Connection, rng: random.Random, learners: int, rows: int) -> None:
    """`rows` outbox rows over `learners` learners: answers and proactive rows, some due now, some held for later
    (quiet hours, a teacher's "send later", a backoff), some multi-part messages."""
    stamp = START.isoformat()
    with transaction(conn):
        conn.executemany(
            "INSERT INTO learners (id, channel_key, channel, timezone, created_at, updated_at, last_inbound_at) "
            "VALUES (?, ?, 'whatsapp', 'Africa/Nairobi', ?, ?, ?)",
            [(n, f"whatsapp:+2547{n:08d}", stamp, stamp, stamp) for n in range(1, learners + 1)],
        )
        for _ in range(rows):
            proactive = rng.random() < 0.6
            later = rng.random() < 0.25
            next_at = START + timedelta(seconds=rng.randrange(1, 400) if later else -rng.randrange(0, 60))
            messages.enqueue_outbound(
                conn,
                learner_id=rng.randrange(1, learners + 1),
                channel="whatsapp",
                address="whatsapp:+254700000001",
                draft=messages.OutboxDraft(
                    body="x" * (2500 if rng.random() < 0.05 else 20),  # a few in two parts
                    kind="broadcast" if proactive else "reply",
                    proactive=proactive,
                    limit=1600,
                ),
                now=START - timedelta(seconds=60),
                status="retry" if later and rng.random() < 0.3 else "queued",
                next_attempt_at=next_at,
            )


def _expected(conn: sqlite3.Connection, now: str, limit: int) -> list[int]:
    """The claim's rule, worked out in Python from every row: each learner's earliest pending row, an answer waiting
    only behind earlier answers and rows going out now; answers first, then earliest due, then oldest."""
    rows = conn.execute(
        "SELECT id, learner_id, proactive, status, next_attempt_at FROM messages WHERE direction = 'out' ORDER BY id"
    ).fetchall()
    seen: dict[int, list[sqlite3.Row]] = {}
    due = []
    for r in rows:
        earlier = seen.setdefault(r["learner_id"], [])
        if r["status"] in PENDING and r["next_attempt_at"] <= now:
            blocked = any(
                p["status"] in (*PENDING, "sending")
                and (r["proactive"] or not p["proactive"] or p["status"] == "sending" or p["next_attempt_at"] <= now)
                for p in earlier
            )
            if not blocked:
                due.append(r)
        earlier.append(r)
    due.sort(key=lambda r: (r["proactive"], r["next_attempt_at"], r["id"]))
    return [r["id"] for r in due[:limit]]


def _steps(conn: sqlite3.Connection, now: datetime, limit: int) -> int:
    """VM steps (SQLite's progress handler, every instruction) of one due_outbound: work, not time."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        messages.due_outbound(conn, now.isoformat(), limit)
    finally:
        conn.set_progress_handler(None, 1)
    return steps


def test_it_reads_due_rows_in_claim_order_and_never_sorts(conn):
    for proactive in (0, 1):
        plan = [
            r[3]
            for r in conn.execute(
                "EXPLAIN QUERY PLAN " + messages._DUE, {"now": START.isoformat(), "limit": 80, "proactive": proactive}
            )
        ]
        assert any("USING INDEX messages_outbox_claim" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan


def test_it_claims_what_the_rule_says_each_row_once_and_each_learners_rows_in_order(conn):
    rng = random.Random(15)
    _fill(conn, rng, learners=150, rows=1200)
    total = conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out'").fetchone()[0]
    limit, now = 25, START
    claimed_at: dict[int, int] = {}  # id -> step it was claimed at
    sending: list[int] = []
    retried: set[int] = set()
    step = 0
    while len(claimed_at) < total:
        step += 1
        assert step < 2000, "the claim stopped making progress"
        stamp = now.isoformat()
        expected = _expected(conn, stamp, limit)
        assert [r["id"] for r in messages.due_outbound(conn, stamp, limit)] == expected
        # Quiet hours for learners 1-10 until START + 200 s: their proactive rows are moved on, not claimed.
        until = START + timedelta(seconds=200)

        def hold(row, until=until, now=now):
            return until if row["proactive"] and row["learner_id"] <= 10 and now < until else None

        rows, held = _claim_due(conn, stamp, limit, "test", hold)
        assert len(rows) + held == len(expected)
        assert {r.id for r in rows} <= set(expected)
        answers = [r.proactive for r in rows]
        assert answers == sorted(answers)  # answers first
        for r in rows:
            assert r.id not in claimed_at or r.id in retried, f"row {r.id} claimed twice"
            claimed_at[r.id] = step
        # Last step's sends settle now (so a 'sending' row keeps its learner's later rows waiting for a step);
        # one in eight fails and backs off (claimed again later, its slot in the order kept).
        with transaction(conn):
            for mid in sending:
                if rng.random() < 0.125 and mid not in retried:
                    retried.add(mid)
                    messages.finish_claim(
                        conn,
                        mid,
                        "retry",
                        stamp,
                        code="network",
                        next_attempt_at=(now + timedelta(seconds=5)).isoformat(),
                    )
                else:
                    messages.mark_sent(conn, mid, f"SM{mid}", None, stamp)
        sending = [r.id for r in rows]
        now += timedelta(seconds=1)
    with transaction(conn):
        for mid in sending:
            messages.mark_sent(conn, mid, f"SM{mid}", None, now.isoformat())
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status != 'sent'").fetchone()[0] == 0
    # Per learner: a later row went first only when it is an answer and the earlier one a proactive row.
    rows = conn.execute("SELECT id, learner_id, proactive FROM messages WHERE direction = 'out' ORDER BY id").fetchall()
    by_learner: dict[int, list[sqlite3.Row]] = {}
    for r in rows:
        by_learner.setdefault(r["learner_id"], []).append(r)
    for learner_rows in by_learner.values():
        for i, a in enumerate(learner_rows):
            for b in learner_rows[i + 1 :]:
                if claimed_at[b["id"]] < claimed_at[a["id"]]:
                    assert not b["proactive"] and a["proactive"], (a["id"], b["id"])
                assert claimed_at[b["id"]] != claimed_at[a["id"]]  # at most one row per learner per claim


def test_held_rows_are_never_read_by_a_claim(conn):
    """20 rows due among 200, then among 20,000 held until the morning: the claim does about the same work."""

    def fill(held: int, offset: int) -> None:
        stamp = START.isoformat()
        morning = (START + timedelta(hours=9)).isoformat()
        with transaction(conn):
            for n in range(offset, offset + held + 20):
                conn.execute(
                    "INSERT INTO learners (id, channel_key, channel, created_at, updated_at) "
                    "VALUES (?, ?, 'whatsapp', ?, ?)",
                    (n, f"whatsapp:+2547{n:08d}", stamp, stamp),
                )
                due = n % ((held + 20) // 20) == 0
                conn.execute(
                    """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status,
                                             next_attempt_at, proactive, error_code, created_at, updated_at)
                       VALUES (?, 'out', 'whatsapp', 'x', 'x', 'daily_lesson', 'queued', ?, ?, ?, ?, ?)""",
                    (n, stamp if due else morning, n % 2, None if due else messages.HELD, stamp, stamp),
                )

    fill(200, 1)
    few = _steps(conn, START, 80)
    assert len(messages.due_outbound(conn, START.isoformat(), 80)) == 20
    with transaction(conn):
        conn.execute("DELETE FROM messages")
    fill(20_000, 100_000)
    many = _steps(conn, START, 80)
    assert len(messages.due_outbound(conn, START.isoformat(), 80)) == 20
    assert many < few * 1.5, (few, many)


def test_a_due_backlog_costs_the_claim_about_its_limit(conn):
    """1,000 then 20,000 due rows: the claim reads about `limit` of them either way (the old claim read them all)."""

    def fill(count: int, offset: int) -> None:
        stamp = START.isoformat()
        with transaction(conn):
            for n in range(offset, offset + count):
                conn.execute(
                    "INSERT INTO learners (id, channel_key, channel, created_at, updated_at) "
                    "VALUES (?, ?, 'whatsapp', ?, ?)",
                    (n, f"whatsapp:+2547{n:08d}", stamp, stamp),
                )
                conn.execute(
                    """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status,
                                             next_attempt_at, proactive, created_at, updated_at)
                       VALUES (?, 'out', 'whatsapp', 'x', 'x', 'broadcast', 'queued', ?, ?, ?, ?)""",
                    (n, stamp, int(n % 100 != 0), stamp, stamp),
                )

    fill(1000, 1)
    few = _steps(conn, START, 80)
    with transaction(conn):
        conn.execute("DELETE FROM messages")
    fill(20_000, 100_000)
    many = _steps(conn, START, 80)
    assert many < few * 1.5, (few, many)


def _enqueue(conn: sqlite3.Connection, learner_id: int, key: str, now: datetime, *, proactive: bool) -> int:
    with transaction(conn):
        mid = messages.enqueue_outbound(
            conn,
            learner_id=learner_id,
            channel="whatsapp",
            address="whatsapp:+254700000001",
            draft=messages.OutboxDraft(body=key, kind="lesson" if proactive else "reply", idempotency_key=key,
                                       proactive=proactive),
            now=now,
        )  # fmt: skip
    assert mid is not None
    return mid


def test_holding_a_row_moves_on_the_proactive_rows_behind_it_and_no_answer_waits_for_them(conn):
    """A lesson's second part (or its quiz) waits behind the first part the claim holds for quiet hours: it is moved
    on to the same time, so no claim reads it all night, and an answer written after it goes at once."""
    with transaction(conn):
        learner_id = conn.execute(
            "INSERT INTO learners (channel_key, channel, timezone, created_at, updated_at) "
            "VALUES ('whatsapp:+254700000001', 'whatsapp', 'Africa/Nairobi', 'x', 'x')"
        ).lastrowid
    now = START
    first = _enqueue(conn, learner_id, "daily:1", now, proactive=True)
    second = _enqueue(conn, learner_id, "daily:1#1", now, proactive=True)
    retrying = _enqueue(conn, learner_id, "quiz:1", now, proactive=True)
    with transaction(conn):
        conn.execute(
            "UPDATE messages SET status = 'retry', attempts = 1, error_code = '30001' WHERE id = ?", (retrying,)
        )
    morning = START + timedelta(hours=9)
    rows, held = _claim_due(conn, now.isoformat(), 80, "test", lambda row: morning if row["proactive"] else None)
    assert (rows, held) == ([], 1)
    for mid in (first, second, retrying):
        assert conn.execute("SELECT next_attempt_at FROM messages WHERE id = ?", (mid,)).fetchone()[0] == (
            morning.isoformat()
        )
    codes = [
        conn.execute("SELECT error_code FROM messages WHERE id = ?", (mid,)).fetchone()[0] for mid in (second, retrying)
    ]
    assert codes == [messages.HELD, "30001"]  # marked as held, as the fan-out marks parts; a retry keeps its error
    answer = _enqueue(conn, learner_id, "in:whatsapp:SM1:out:0", now, proactive=False)
    rows, held = _claim_due(conn, now.isoformat(), 80, "test", lambda row: morning if row["proactive"] else None)
    assert [r.id for r in rows] == [answer] and held == 0
    rows, held = _claim_due(conn, morning.isoformat(), 80, "test")
    assert [r.id for r in rows] == [first]  # then the second part, once the first is sent
