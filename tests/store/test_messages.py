"""Message rows carry the class and course the Costs page counts them under (migrations 0028 and 0031)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlite_utils

from coachbox import store
from coachbox.channels.base import Inbound
from coachbox.core.costs import Cost
from coachbox.store import messages
from tests.store.conftest import Cast, kept_totals, noted, recounted_totals

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _reply(conn, learner: int, key: str, body: str = "Well done!", at: datetime = NOW) -> int | None:
    return messages.enqueue_outbound(
        conn,
        learner_id=learner,
        channel="whatsapp",
        address=f"whatsapp:+2547{learner:08d}",
        draft=messages.OutboxDraft(body, idempotency_key=key),
        now=at,
    )


def _inbound(conn, learner: int | None, sid: str, cost: Cost | None = None) -> int | None:
    return messages.record_inbound(
        conn, Inbound("whatsapp", "whatsapp:+254700000009", "hello", sid, NOW, phone="+254700000009"), learner, cost
    )


def _raw(conn, learner: int | None, extra: dict | None = None) -> int:
    """A row written by another code path (a test, an import, an old writer): only the columns it knows."""
    columns = {"learner_id": learner, "direction": "out", "channel": "whatsapp", "address": "x", "body": "b"}
    columns |= {"kind": "broadcast", "status": "queued", "created_at": NOW.isoformat()}
    columns |= {"updated_at": NOW.isoformat(), **(extra or {})}
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    return conn.execute(f"INSERT INTO messages ({names}) VALUES ({marks})", list(columns.values())).lastrowid


def test_it_writes_an_outbound_row_with_its_learners_class_and_course(conn, cast):
    ids = [_reply(conn, learner, f"reply:{learner}") for learner in cast.everyone]
    assert [noted(conn, i) for i in ids] == [("Form 2", cast.maths), ("", cast.money), ("Form 3", 0)]
    assert kept_totals(conn) == recounted_totals(conn)


def test_it_writes_every_part_of_a_long_message_with_them(conn, cast):
    first = _reply(conn, cast.amina, "long", "word " * 700)  # 3,500 characters: three parts
    parts = conn.execute("SELECT id FROM messages WHERE learner_id = ? ORDER BY id", (cast.amina,)).fetchall()
    assert len(parts) == 3 and parts[0][0] == first
    assert {noted(conn, row[0]) for row in parts} == {("Form 2", cast.maths)}
    assert kept_totals(conn) == recounted_totals(conn)


def test_it_writes_an_inbound_row_with_them_and_a_row_without_a_learner_with_none(conn, cast):
    mine = _inbound(conn, cast.amina, "SM1", Cost("KE", "service", 0))
    stray = _inbound(conn, None, "SM2")
    assert noted(conn, mine) == ("Form 2", cast.maths)
    assert noted(conn, stray) == ("", 0)
    assert _inbound(conn, cast.amina, "SM1") is None  # a webhook retry is still not written twice
    assert kept_totals(conn) == recounted_totals(conn)
    month = conn.execute("SELECT month, first_in FROM active_months WHERE learner_id = ?", (cast.amina,)).fetchall()
    assert [tuple(r) for r in month] == [("2026-03", NOW.isoformat())]


def test_it_counts_each_row_under_the_class_and_course_of_the_moment_it_was_written(conn, cast):
    before = _reply(conn, cast.amina, "before")
    conn.execute("UPDATE learners SET cohort = 'Form 3', current_course_id = ? WHERE id = ?", (cast.money, cast.amina))
    after = _reply(conn, cast.amina, "after", at=NOW + timedelta(minutes=1))
    assert noted(conn, before) == ("Form 2", cast.maths)
    assert noted(conn, after) == ("Form 3", cast.money)
    conn.execute("UPDATE messages SET cost_estimate_micros = 9000 WHERE id = ?", (before,))  # priced later
    assert kept_totals(conn) == recounted_totals(conn)


def test_a_row_written_without_them_is_noted_by_the_trigger_as_before(conn, cast):
    ids = [_raw(conn, learner) for learner in (*cast.everyone, None)]
    assert [noted(conn, i) for i in ids] == [("Form 2", cast.maths), ("", cast.money), ("Form 3", 0), ("", 0)]
    assert kept_totals(conn) == recounted_totals(conn)


def test_a_row_written_with_them_is_counted_under_them_and_one_left_out_is_noted(conn, cast):
    given = _raw(conn, cast.amina, {"cost_class": "Chess club", "cost_course_id": cast.money})
    class_only = _raw(conn, cast.amina, {"cost_class": "Chess club"})
    course_only = _raw(conn, cast.chiku, {"cost_course_id": cast.maths})
    assert noted(conn, given) == ("Chess club", cast.money)
    assert noted(conn, class_only) == ("Chess club", cast.maths)
    assert noted(conn, course_only) == ("Form 3", cast.maths)
    assert kept_totals(conn) == recounted_totals(conn)


def test_the_totals_stay_right_across_the_upgrade_to_the_cheaper_trigger(tmp_path):
    conn = store.connect(tmp_path / "coachbox.db")
    store.migrations().apply(sqlite_utils.Database(conn), stop_before="0031_cost_totals_cheaper_insert")
    cast = Cast(conn)
    old = [_raw(conn, learner) for learner in cast.everyone]  # noted by 0028's trigger
    before = kept_totals(conn)
    assert store.migrate(conn)[0] == "0031_cost_totals_cheaper_insert"
    assert kept_totals(conn) == before
    new = [_reply(conn, learner, f"reply:{learner}") for learner in cast.everyone] + [_raw(conn, cast.amina)]
    assert [noted(conn, i) for i in old] == [noted(conn, i) for i in new[:3]]
    assert kept_totals(conn) == recounted_totals(conn)
    assert conn.execute("SELECT SUM(messages) FROM cost_totals").fetchone()[0] == 7
    conn.close()
