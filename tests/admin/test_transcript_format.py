"""A learner's transcript as a teacher reads it: WhatsApp formatting, hostile text kept as text, the flag form behind
a button, the chat opening at the newest message, and quiz answers with the choice's text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from coachbox.store.messages import OutboxDraft, enqueue_outbound
from tests.admin.conftest import add_learner, signed_in
from tests.admin.test_tutor_flags import _answered

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _sent(conn, learner_id: int, body: str, key: str) -> int:
    return enqueue_outbound(
        conn,
        learner_id=learner_id,
        channel="whatsapp",
        address="whatsapp:+254700000001",
        draft=OutboxDraft(body=body, kind="lesson", idempotency_key=key),
        now=NOW,
        status="sent",
    )


async def test_the_transcript_shows_whatsapp_formatting_and_keeps_hostile_text_as_text(app, client, cast, conn):
    learner = add_learner(conn)
    _sent(conn, learner, "*Keep your PIN secret*\n\n- never share it\n- cover the keypad\nhttps://example.org/pin", "a")
    _sent(conn, learner, '<img src=x onerror=alert(1)> "onmouseover=alert(1) *<b>x</b>*', "b")
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner}")
    text = page.text
    assert "<strong>Keep your PIN secret</strong>" in text
    assert "<ul><li>never share it</li><li>cover the keypad</li></ul>" in text
    assert '<a href="https://example.org/pin" rel="noopener noreferrer nofollow" target="_blank">' in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<strong>&lt;b&gt;x&lt;/b&gt;</strong>" in text
    assert re.search(r'id="transcript" data-newest', text)  # admin.js scrolls it to the newest message


async def test_the_flag_form_is_behind_a_button(app, client, cast, conn):
    learner = add_learner(conn)
    _answered(conn, learner, "what is a PIN?")
    await signed_in(client, "bob@school.test")
    _, page = await client.get(f"/admin/learners/{learner}")
    details = re.search(r'<details class="flag">(.*?)</details>', page.text, re.S)
    assert details is not None, "the flag form is not folded"
    assert "<summary>Flag as wrong…</summary>" in details.group(1)
    assert "What is wrong with this answer?" in details.group(1)
    assert '<details class="flag" open' not in page.text


async def test_quiz_answers_show_the_choices_text(app, client, cast, conn):
    learner = add_learner(conn)
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES ('m', 'en', 'M', 'x', 'x')"
    ).lastrowid
    lesson = conn.execute(
        "INSERT INTO lessons (course_id, slug, position, title, body, created_at, updated_at) "
        "VALUES (?, 'l', 1, 'L', 'b', 'x', 'x')",
        (course,),
    ).lastrowid
    choice = conn.execute(
        "INSERT INTO questions (lesson_id, position, kind, prompt, choices, answer) "
        """VALUES (?, 1, 'choice', 'A caller asks for your PIN. What do you do?', '["Give it", "Hang up"]', '2')""",
        (lesson,),
    ).lastrowid
    short = conn.execute(
        "INSERT INTO questions (lesson_id, position, kind, prompt, answer) VALUES (?, 2, 'short', 'Say it', '[\"no\"]')",
        (lesson,),
    ).lastrowid
    for question, given, right in ((choice, "B", 1), (short, "nope <b>", 0)):
        conn.execute(
            "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) VALUES (?, ?, ?, ?, ?)",
            (learner, question, given, right, NOW.isoformat()),
        )
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner}")
    assert "<strong>B</strong>: “Hang up”" in page.text
    assert "“nope &lt;b&gt;”" in page.text
