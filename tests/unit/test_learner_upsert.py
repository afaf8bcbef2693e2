"""store.learners.upsert: a returning learner costs one statement; phone, WhatsApp id and name change only when new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coachbox.store import learners

T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _upsert(conn, now: datetime, **fields) -> tuple[int, bool]:
    given = {"phone": "+254700000001", "wa_id": "254700000001", "profile_name": "Amina"} | fields
    return learners.upsert(
        conn,
        channel_key="whatsapp:+254700000001",
        channel="whatsapp",
        language="en",
        timezone="Africa/Nairobi",
        lesson_time="07:00",
        now=now,
        **given,
    )


def _row(conn, learner_id: int) -> tuple:
    return tuple(
        conn.execute(
            "SELECT phone, wa_id, profile_name, last_inbound_at FROM learners WHERE id = ?", (learner_id,)
        ).fetchone()
    )


def test_a_returning_learner_with_nothing_new_costs_one_statement(conn):
    learner_id, created = _upsert(conn, T0)
    assert created
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        again, created = _upsert(conn, T0 + timedelta(minutes=1))
    finally:
        conn.set_trace_callback(None)
    assert (again, created) == (learner_id, False)
    assert len(statements) == 1 and statements[0].lstrip().startswith("UPDATE learners SET last_inbound_at")
    assert _row(conn, learner_id) == ("+254700000001", "254700000001", "Amina", (T0 + timedelta(minutes=1)).isoformat())


def test_a_new_name_is_written_and_a_missing_field_keeps_what_was_known(conn):
    learner_id, _ = _upsert(conn, T0)
    _upsert(conn, T0 + timedelta(minutes=1), profile_name="Amina W.", wa_id=None)
    assert _row(conn, learner_id)[:3] == ("+254700000001", "254700000001", "Amina W.")
    _upsert(conn, T0 + timedelta(minutes=2), phone=None, wa_id=None, profile_name=None)
    assert _row(conn, learner_id)[:3] == ("+254700000001", "254700000001", "Amina W.")
