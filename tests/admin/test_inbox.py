"""The teacher's inbox (issue #17): the list and its scope, replies through the outbox as `reply` (at night too, once
on a double press, the template outside the window), notes never sent, assign, close, tutor review, saved replies,
the menu's count, the live stream and the dashboard's figures. The real app and sender on the Twilio double."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sanic_testing.testing import SanicASGITestClient

from coachbox.channels.outbox import deliver_due
from coachbox.roots.app import create_app
from coachbox.store import handover, transaction
from coachbox.store import tutor as tutor_store
from coachbox.tutor import service
from tests.admin.conftest import add_learner, csrf_from, signed_in
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio
NIGHT = datetime.fromisoformat("2026-03-02T20:10:00+00:00")  # Monday 23:10 in Nairobi: quiet hours (21:00-07:00)
WROTE = "2026-03-02T19:00:00+00:00"  # 22:00 there: WhatsApp's 24-hour window is open
LONG_AGO = "2026-02-20T08:00:00+00:00"  # the window closed long ago
NONCE = "0123456789abcdef0123456789abcdef"


def _app(settings, tservices, clock, **twilio):
    clock.set(NIGHT)
    values = {"public_url": settings.server.public_url}
    tservices.settings = (
        tservices.settings.replace(server=values, twilio=twilio)
        if twilio
        else (tservices.settings.replace(server=values))
    )
    return create_app(tservices.settings, tservices)


@pytest.fixture
def browser(settings, tservices, clock) -> SanicASGITestClient:
    """The app on the Twilio double at 23:10 in Nairobi (no admin template configured)."""
    return SanicASGITestClient(_app(settings, tservices, clock))


@pytest.fixture
def templated(settings, tservices, clock) -> SanicASGITestClient:
    """The same, with [twilio.templates] admin configured."""
    return SanicASGITestClient(_app(settings, tservices, clock, templates={"admin": "HXadmin"}))


def _open(conn, learner_id: int, reason: str = "asked", *, at: datetime = NIGHT - timedelta(minutes=40), **kw) -> int:
    with transaction(conn):
        return handover.open_handover(conn, learner_id, reason, at, detail=kw.pop("detail", "TEACHER"), **kw)


async def _drain(services) -> None:
    while await deliver_due(services):
        pass


def _outbound(conn, learner_id: int) -> list:
    return conn.execute(
        "SELECT * FROM messages WHERE learner_id = ? AND direction = 'out' ORDER BY id", (learner_id,)
    ).fetchall()


async def test_the_list_says_class_language_local_time_window_reason_and_wait(browser, cast, conn):
    amina = add_learner(conn, name="Amina", cohort="Form 2", last_inbound_at=WROTE)
    baraka = add_learner(conn, name="Baraka <b>", phone="+254700000002", cohort="Form 3", last_inbound_at=LONG_AGO)
    conn.execute("UPDATE learners SET language = 'sw' WHERE id = ?", (baraka,))
    _open(conn, amina)
    _open(conn, baraka, "tutor_no_answer", at=NIGHT - timedelta(hours=3, minutes=5))
    await signed_in(browser, "charlie@school.test")  # a viewer reads the inbox

    _, page = await browser.get("/admin/inbox")
    assert page.status == 200
    text = page.text
    # Longest wait first; learner text escaped.
    assert text.index("Baraka &lt;b&gt;") < text.index("Amina")
    assert "3 h 5 min" in text and "40 min" in text
    assert "asked for a teacher" in text and "the tutor had no answer" in text
    assert "Form 2" in text and "Form 3" in text and "<dd>sw</dd>" in text
    assert "23:10" in text  # the learners' local time (Nairobi)
    assert "free text (" in text and "closed: waits for the learner" in text
    # The menu's count on every admin page.
    _, other = await browser.get("/admin/learners")
    assert re.search(r'id="inbox-count"><span class="sr-only">, open: </span><b>2</b>', other.text)
    # Filters: nothing is assigned to charlie, everything is unassigned; the closed tab is empty.
    _, mine = await browser.get("/admin/inbox?show=mine")
    assert "Amina" not in mine.text and "no open conversations" in mine.text
    _, unassigned = await browser.get("/admin/inbox?show=unassigned")
    assert "Amina" in unassigned.text
    _, closed = await browser.get("/admin/inbox?status=closed")
    assert "No closed conversations yet." in closed.text


async def test_a_teacher_limited_to_a_class_sees_only_that_class(browser, cast, conn):
    form2 = add_learner(conn, name="Amina", cohort="Form 2", last_inbound_at=WROTE)
    form3 = add_learner(conn, name="Baraka", phone="+254700000002", cohort="Form 3", last_inbound_at=WROTE)
    _open(conn, form2)
    other = _open(conn, form3)
    conn.execute("INSERT INTO admin_classes (admin_id, class_name) VALUES (?, 'Form 2')", (cast["bob@school.test"],))
    token = await signed_in(browser, "bob@school.test")

    _, page = await browser.get("/admin/inbox")
    assert "Amina" in page.text and "Baraka" not in page.text
    assert re.search(r"<b>1</b></span>", page.text)  # the menu counts only Form 2's
    _, hidden = await browser.get(f"/admin/inbox/{other}")
    assert hidden.status == 404
    _, refused = await browser.post(
        f"/admin/inbox/{other}/reply", data={"body": "hi", "nonce": NONCE, "csrf_token": token}
    )
    assert refused.status == 404 and _outbound(conn, form3) == []


async def test_a_reply_inside_the_window_goes_now_at_night_as_a_reply_once_on_a_double_press(
    browser, cast, conn, tservices, twilio_double
):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    token = await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert "24-hour window is <strong>open</strong>" in page.text and ">Send reply</button>" in page.text
    nonce = re.search(r'name="nonce" value="([0-9a-f]{32})"', page.text).group(1)

    form = {"body": "I am here, Amina. What is the question?", "nonce": nonce, "csrf_token": token}
    _, first = await browser.post(f"/admin/inbox/{handover_id}/reply", data=form, follow_redirects=False)
    _, second = await browser.post(f"/admin/inbox/{handover_id}/reply", data=form, follow_redirects=False)
    assert first.headers["location"].endswith("done=inbox_replied")
    assert second.headers["location"].endswith("done=inbox_duplicate")
    [row] = _outbound(conn, learner_id)
    assert row["kind"] == "reply" and row["proactive"] == 0
    await _drain(tservices)
    [sent] = twilio_double.accepted  # 23:10 where Amina is: a reply is never held for quiet hours
    assert sent.to == ALICE and sent.get("Body") == form["body"] and not sent.get("ContentSid")

    [reply_event] = [e for e in handover.handover_events(conn, handover_id) if e.kind == "teacher_reply"]
    assert reply_event.message_id == row["id"] and reply_event.admin_id == cast["bob@school.test"]
    current = handover.get_handover(conn, handover_id)
    assert current.first_reply_at == NIGHT.isoformat() and current.waiting_since is None


async def test_outside_the_window_the_page_says_the_template_goes_and_it_does(
    templated, cast, conn, tservices, twilio_double
):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=LONG_AGO)
    handover_id = _open(conn, learner_id)
    token = await signed_in(templated, "bob@school.test")
    _, page = await templated.get(f"/admin/inbox/{handover_id}")
    assert "24-hour window is <strong>closed</strong>: your reply goes inside the approved template" in page.text
    assert "<code>HXadmin</code>" in page.text and ">Send in the template</button>" in page.text

    _, sent = await templated.post(
        f"/admin/inbox/{handover_id}/reply",
        data={"body": "Your fee is fine now.", "nonce": NONCE, "csrf_token": token},
        follow_redirects=False,
    )
    assert sent.headers["location"].endswith("done=inbox_replied_template")
    await _drain(tservices)
    [message] = twilio_double.accepted
    assert message.get("ContentSid") == "HXadmin" and "Your fee is fine now." in message.get("ContentVariables")


async def test_without_a_template_the_page_says_the_reply_waits_for_the_learner(browser, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=LONG_AGO)
    handover_id = _open(conn, learner_id)
    await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert "your reply <strong>waits</strong> and goes out when the learner next writes" in page.text
    assert ">Send when they write</button>" in page.text


async def test_notes_stay_internal_and_assigning_is_recorded(browser, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    token = await signed_in(browser, "bob@school.test")

    _, noted = await browser.post(
        f"/admin/inbox/{handover_id}/note",
        data={"body": "Her mother called the school about this.", "csrf_token": token},
        follow_redirects=False,
    )
    assert noted.status == 303 and _outbound(conn, learner_id) == []  # never sent
    _, mine = await browser.post(
        f"/admin/inbox/{handover_id}/assign", data={"to": "me", "csrf_token": token}, follow_redirects=False
    )
    assert mine.headers["location"].endswith("done=inbox_assigned")
    assert handover.get_handover(conn, handover_id).assigned_to == cast["bob@school.test"]
    _, page = await browser.get("/admin/inbox?show=mine")
    assert "Amina" in page.text and "bob@school.test" in page.text

    await browser.post(
        f"/admin/inbox/{handover_id}/assign", data={"to": str(cast["alice@school.test"]), "csrf_token": token}
    )
    assert handover.get_handover(conn, handover_id).assigned_to == cast["alice@school.test"]
    _, bad = await browser.post(
        f"/admin/inbox/{handover_id}/assign", data={"to": str(cast["charlie@school.test"]), "csrf_token": token}
    )
    assert bad.status == 400  # a viewer cannot answer
    _, item = await browser.get(f"/admin/inbox/{handover_id}")
    assert "Her mother called the school about this." in item.text and "internal note" in item.text
    assert _outbound(conn, learner_id) == []


async def test_viewers_read_but_do_not_act(browser, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    token = await signed_in(browser, "charlie@school.test")
    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert page.status == 200 and "Your reply" not in page.text and "Close conversation" not in page.text
    for action, data in (("reply", {"body": "hi", "nonce": NONCE}), ("note", {"body": "x"}), ("close", {})):
        _, refused = await browser.post(f"/admin/inbox/{handover_id}/{action}", data={**data, "csrf_token": token})
        assert refused.status == 403
    assert _outbound(conn, learner_id) == []


async def test_closing_tells_the_learner_the_bot_is_back(browser, cast, conn, tservices, twilio_double):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    token = await signed_in(browser, "bob@school.test")
    _, closed = await browser.post(
        f"/admin/inbox/{handover_id}/close", data={"csrf_token": token}, follow_redirects=False
    )
    assert closed.headers["location"].endswith("/admin/inbox?done=inbox_closed")
    current = handover.get_handover(conn, handover_id)
    assert current.status == "closed" and current.closed_by == cast["bob@school.test"]
    [notice] = _outbound(conn, learner_id)
    assert notice["kind"] == "reply" and notice["proactive"] == 0
    await _drain(tservices)
    assert len(twilio_double.accepted) == 1
    _, page = await browser.get("/admin/inbox?status=closed")
    assert "Amina" in page.text


async def test_a_flagged_tutor_answer_is_reviewed_and_marked_wrong_in_the_inbox(browser, cast, conn, clock):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    with transaction(conn):
        exchange = tutor_store.start_exchange(
            conn,
            learner_id=learner_id,
            question_key="q1",
            question="Is M-PESA safe?",
            language="en",
            course_id=None,
            now=NIGHT,
        )
        tutor_store.finish_exchange(conn, exchange.id, source="nothing", answer="No idea.", lesson_ids=[], now=NIGHT)
    handover_id = _open(conn, learner_id, "tutor_no_answer", tutor_exchange_id=exchange.id)
    token = await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert (
        "Is M-PESA safe?" in page.text and "from no course excerpt" in page.text and "Reply (a correction)" in page.text
    )

    _, marked = await browser.post(
        f"/admin/inbox/{handover_id}/wrong",
        data={"note": "It is safe with a PIN", "csrf_token": token},
        follow_redirects=False,
    )
    assert marked.headers["location"].endswith("done=inbox_wrong")
    flagged = tutor_store.get_exchange(conn, exchange.id)
    assert flagged.flagged_at and flagged.flag_note == "It is safe with a PIN"


async def test_saved_replies_are_offered_in_the_learners_language(browser, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    token = await signed_in(browser, "bob@school.test")
    for title, language, body in (("Fees", "en", "Fees are due on Friday."), ("Ada", "sw", "Ada inalipwa Ijumaa.")):
        _, saved = await browser.post(
            "/admin/inbox/replies",
            data={"title": title, "language": language, "body": body, "csrf_token": token},
            follow_redirects=False,
        )
        assert saved.status == 303
    _, listing = await browser.get("/admin/inbox/replies")
    assert "Fees are due on Friday." in listing.text and "Ada inalipwa Ijumaa." in listing.text
    [fees] = handover.list_saved_replies(conn, "en")

    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert ">Fees</option>" in page.text and ">Ada</option>" not in page.text
    _, chosen = await browser.get(f"/admin/inbox/{handover_id}?saved={fees.id}")
    assert re.search(r'<textarea id="reply-body"[^>]*>Fees are due on Friday\.</textarea>', chosen.text)


async def test_the_live_stream_and_the_dashboard_count_the_open_items(browser, cast, conn, clock):
    amina = add_learner(conn, name="Amina", cohort="Form 2", last_inbound_at=WROTE)
    baraka = add_learner(conn, name="Baraka", phone="+254700000002", cohort="Form 2", last_inbound_at=WROTE)
    answered = _open(conn, amina, at=NIGHT - timedelta(hours=2))
    _open(conn, baraka)
    with transaction(conn):
        handover.add_handover_event(conn, answered, "teacher_reply", NIGHT - timedelta(hours=1, minutes=30))
        handover.assign_handover(conn, answered, cast["bob@school.test"], NIGHT, cast["bob@school.test"])
    await signed_in(browser, "bob@school.test")

    _, stream = await browser.get("/admin/events/inbox?once=1")
    assert 'event: inbox\ndata: {"open": 2' in stream.text
    _, dashboard = await browser.get("/admin/")
    text = dashboard.text
    assert "Time to first human reply, last 7 days: <strong>30 min</strong> (median of 1 answered)" in text
    assert "<td>bob@school.test</td><td>1</td>" in text and "<td>Unassigned</td><td>1</td>" in text
    assert "<td>Form 2</td><td>2</td>" in text


async def test_the_form_nonce_must_be_the_pages(browser, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    _, page = await browser.get("/admin/login")
    token = await signed_in(browser, "bob@school.test")
    _, refused = await browser.post(
        f"/admin/inbox/{handover_id}/reply", data={"body": "hi", "nonce": "x", "csrf_token": token}
    )
    assert refused.status == 400 and _outbound(conn, learner_id) == []
    assert csrf_from(page.text)


async def test_flagging_a_tutor_answer_on_the_learner_page_makes_it_an_inbox_item(browser, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    with transaction(conn):
        exchange = tutor_store.start_exchange(
            conn,
            learner_id=learner_id,
            question_key="q2",
            question="What is a PIN?",
            language="en",
            course_id=None,
            now=NIGHT,
        )
        tutor_store.finish_exchange(conn, exchange.id, source="llm", answer="A kind of nail.", lesson_ids=[], now=NIGHT)
    token = await signed_in(browser, "bob@school.test")
    _, flagged = await browser.post(
        f"/admin/learners/{learner_id}/tutor/{exchange.id}/flag",
        data={"note": "Wrong meaning", "csrf_token": token},
        follow_redirects=False,
    )
    assert flagged.status == 303
    [item] = handover.list_handovers(conn)
    assert (item.reason, item.tutor_exchange_id, item.detail) == ("tutor_flagged", exchange.id, "Wrong meaning")
    _, page = await browser.get("/admin/inbox")
    assert "a tutor answer was flagged" in page.text


async def test_a_wrong_marked_answer_is_never_given_again(cast, conn, tservices):
    """The tutor keeps no cache of answers across questions: the same words asked again are a new exchange, looked
    up afresh, so an answer a teacher marked wrong is never handed to anyone again (only a retry of the very same
    message finds its stored answer, and the outbox's key keeps that from being sent twice)."""
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    first = service.answer_question(tservices, learner_id, "What is a PIN?", question_key="in:q1")
    with transaction(conn):
        tutor_store.flag_answer(conn, first.exchange_id, admin_id=cast["bob@school.test"], note="wrong", now=NIGHT)
    again = service.answer_question(tservices, learner_id, "What is a PIN?", question_key="in:q2")
    assert again.exchange_id != first.exchange_id
    assert tutor_store.get_exchange(conn, again.exchange_id).flagged_at is None


async def test_a_teacher_pauses_the_lessons_or_lets_the_bot_answer_while_the_conversation_is_open(browser, cast, conn):
    """Issue #17: "scheduled lessons continue unless the teacher pauses them"; the inbox item has the switches (the
    scheduler's side: tests/conversation/test_handover_turns.py::test_paused_lessons_are_not_sent_and_running_ones_are)."""
    learner_id = add_learner(conn, name="Amina", last_inbound_at=WROTE)
    handover_id = _open(conn, learner_id)
    token = await signed_in(browser, "bob@school.test")
    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert (
        "Scheduled lessons still go to this learner meanwhile." in page.text and ">Pause lessons</button>" in page.text
    )
    assert "The bot keeps out" in page.text and ">Let the bot answer</button>" in page.text

    _, paused = await browser.post(
        f"/admin/inbox/{handover_id}/pause",
        data={"what": "lessons", "on": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert paused.headers["location"].endswith("done=inbox_lessons_paused")
    assert handover.lessons_paused(conn, learner_id)  # what the scheduler reads
    _, page = await browser.get(f"/admin/inbox/{handover_id}?done=inbox_lessons_paused")
    assert "Scheduled lessons paused for this learner" in page.text and ">Resume lessons</button>" in page.text

    await browser.post(f"/admin/inbox/{handover_id}/pause", data={"what": "bot", "on": "0", "csrf_token": token})
    current = handover.get_handover(conn, handover_id)
    assert current.lessons_paused and not current.bot_paused and current.status == "open"
    await browser.post(f"/admin/inbox/{handover_id}/pause", data={"what": "lessons", "on": "0", "csrf_token": token})
    assert not handover.lessons_paused(conn, learner_id)
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE action LIKE 'inbox.%' ORDER BY id")]
    assert actions == ["inbox.pause_lessons", "inbox.bot_back", "inbox.resume_lessons"]

    _, bad = await browser.post(f"/admin/inbox/{handover_id}/pause", data={"what": "x", "on": "1", "csrf_token": token})
    assert bad.status == 400
    await browser.post(f"/admin/inbox/{handover_id}/close", data={"csrf_token": token})
    _, closed = await browser.post(
        f"/admin/inbox/{handover_id}/pause", data={"what": "lessons", "on": "1", "csrf_token": token}
    )
    assert closed.status == 400


async def test_a_viewer_cannot_pause(browser, cast, conn):
    handover_id = _open(conn, add_learner(conn, name="Amina", last_inbound_at=WROTE))
    token = await signed_in(browser, "charlie@school.test")
    _, page = await browser.get(f"/admin/inbox/{handover_id}")
    assert "Pause lessons" not in page.text
    _, refused = await browser.post(
        f"/admin/inbox/{handover_id}/pause", data={"what": "lessons", "on": "1", "csrf_token": token}
    )
    assert refused.status == 403
