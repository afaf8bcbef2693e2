"""Teachers see AI tutor answers marked in the transcript and can flag (and unflag) bad ones."""

from __future__ import annotations

from datetime import UTC, datetime, timezone

import pytest

from coachbox.store import tutor as tutor_store
from coachbox.store.messages import OutboxDraft, enqueue_outbound
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _answered(conn, learner_id: int, question: str) -> int:
    exchange = tutor_store.start_exchange(
        conn,
        learner_id=learner_id,
        question_key="in:whatsapp:SM1",
        question=question,
        language="en",
        course_id=None,
        now=NOW,
    )
    message_id = enqueue_outbound(
        conn,
        learner_id=learner_id,
        channel="whatsapp",
        address="whatsapp:+254700000001",
        draft=OutboxDraft(body="🤖 Keep your PIN secret.", kind="tutor_ai", idempotency_key="tutor:1"),
        now=NOW,
        status="sent",
    )
    conn.execute(
        "UPDATE tutor_exchanges SET status = 'answered', source = 'llm', answer = 'Keep your PIN secret.', "
        "message_id = ? WHERE id = ?",
        (message_id, exchange.id),
    )
    return exchange.id


async def test_it_marks_ai_answers_and_lets_an_editor_flag_and_unflag_them(app, client, cast, conn):
    learner = add_learner(conn)
    exchange = _answered(conn, learner, "<script>alert(1)</script> what is a PIN?")
    csrf = await signed_in(client, "bob@school.test")
    _, page = await client.get(f"/admin/learners/{learner}")
    assert "AI tutor answer" in page.text and "Flag as wrong" in page.text
    assert "<script>alert(1)</script>" not in page.text  # the learner's question is escaped

    _, response = await client.post(
        f"/admin/learners/{learner}/tutor/{exchange}/flag", data={"note": "wrong short code", "csrf_token": csrf}
    )
    assert response.status_code == 303
    row = conn.execute("SELECT flagged_at, flag_note FROM tutor_exchanges WHERE id = ?", (exchange,)).fetchone()
    assert row[0] is not None and row[1] == "wrong short code"
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'tutor.flag'").fetchone()[0] == 1
    _, page = await client.get(f"/admin/learners/{learner}")
    assert "wrong short code" in page.text and "Remove flag" in page.text

    _, response = await client.post(f"/admin/learners/{learner}/tutor/{exchange}/unflag", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert conn.execute("SELECT flagged_at FROM tutor_exchanges WHERE id = ?", (exchange,)).fetchone()[0] is None
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'tutor.unflag'").fetchone()[0] == 1


async def test_it_refuses_a_missing_csrf_token_and_another_learners_answer(app, client, cast, conn):
    learner = add_learner(conn)
    other = add_learner(conn, name="Baraka", phone="+254700000002")
    exchange = _answered(conn, learner, "what is a PIN?")
    csrf = await signed_in(client, "bob@school.test")
    _, response = await client.post(f"/admin/learners/{learner}/tutor/{exchange}/flag", data={"note": "x"})
    assert response.status_code == 403  # no CSRF token
    _, response = await client.post(
        f"/admin/learners/{other}/tutor/{exchange}/flag", data={"note": "x", "csrf_token": csrf}
    )
    assert response.status_code == 404  # the answer belongs to another learner


async def test_it_shows_viewers_the_marks_but_never_lets_them_flag(app, client, cast, conn):
    learner = add_learner(conn)
    exchange = _answered(conn, learner, "what is a PIN?")
    viewer_csrf = await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner}")
    assert "AI tutor answer" in page.text and "Flag as wrong" not in page.text
    _, response = await client.post(
        f"/admin/learners/{learner}/tutor/{exchange}/flag", data={"note": "x", "csrf_token": viewer_csrf}
    )
    assert response.status_code == 403
    assert conn.execute("SELECT flagged_at FROM tutor_exchanges WHERE id = ?", (exchange,)).fetchone()[0] is None
