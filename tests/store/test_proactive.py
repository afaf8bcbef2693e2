"""The scheduler's outbox rows written many at once: order, keys, and the Costs page's totals (migration 0031)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coachbox.store import proactive
from tests.store.conftest import kept_totals, noted, recounted_totals

NOW = datetime(2026, 3, 2, 4, 0, 20, tzinfo=UTC)


def _row(learner: int, key: str, body: str = "Lesson 1", kind: str = "lesson", sequence: int = 0) -> tuple:
    return (learner, "whatsapp", f"whatsapp:+2547{learner:08d}", body, "[]", kind, None, None, key, sequence)


def test_it_writes_the_rows_in_the_order_given_and_returns_their_ids_by_key(conn, cast):
    # More rows than two statements hold, an odd number of them, a message in parts among them.
    rows = []
    for n in range(1_300):
        learner = cast.everyone[n % 3]
        rows.append(_row(learner, f"daily_lesson:{n}:out:0"))
        if n % 100 == 0:
            rows.append(_row(learner, f"daily_lesson:{n}:out:0#1", "the rest", "lesson.continued"))
    ids = proactive.enqueue_many(conn, rows, NOW)
    written = conn.execute("SELECT id, idempotency_key, learner_id, body FROM messages ORDER BY id").fetchall()
    assert [r["idempotency_key"] for r in written] == [r[8] for r in rows]
    assert ids == {r["idempotency_key"]: r["id"] for r in written}
    assert [(r["learner_id"], r["body"]) for r in written] == [(r[0], r[3]) for r in rows]
    stored = conn.execute(
        "SELECT DISTINCT direction, status, proactive, next_attempt_at, created_at, updated_at FROM messages"
    ).fetchall()
    assert [tuple(r) for r in stored] == [("out", "queued", 1, NOW.isoformat(), NOW.isoformat(), NOW.isoformat())]


def test_it_writes_each_row_with_its_learners_class_and_course(conn, cast):
    ids = proactive.enqueue_many(conn, [_row(learner, f"k{learner}") for learner in cast.everyone], NOW)
    assert [noted(conn, ids[f"k{learner}"]) for learner in cast.everyone] == [
        ("Form 2", cast.maths),
        ("", cast.money),
        ("Form 3", 0),
    ]
    assert kept_totals(conn) == recounted_totals(conn)
    assert conn.execute("SELECT SUM(messages) FROM cost_totals").fetchone()[0] == 3


def test_it_leaves_a_row_whose_key_exists_as_it_was(conn, cast):
    (first,) = proactive.enqueue_many(conn, [_row(cast.amina, "lesson:1", "first")], NOW).values()
    ids = proactive.enqueue_many(
        conn, [_row(cast.amina, "lesson:1", "again"), _row(cast.baraka, "lesson:2"), _row(cast.baraka, "lesson:2")], NOW
    )
    assert ids["lesson:1"] == first
    assert [tuple(r) for r in conn.execute("SELECT idempotency_key, body FROM messages ORDER BY id")] == [
        ("lesson:1", "first"),
        ("lesson:2", "Lesson 1"),
    ]
    assert kept_totals(conn) == recounted_totals(conn)
    assert conn.execute("SELECT SUM(messages) FROM cost_totals").fetchone()[0] == 2


@pytest.mark.parametrize("count", [0, 1, 511, 512, 513, 1_000, 4_000])
def test_it_splits_a_batch_into_a_few_statement_shapes(count):
    sizes = proactive._chunks(count)
    assert sum(sizes) == count
    assert set(sizes) <= {proactive.CHUNK >> bit for bit in range(10)}
    assert len(sizes) <= count // proactive.CHUNK + 9
