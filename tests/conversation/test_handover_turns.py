"""Handover through whole turns on the real store: TEACHER, silenced free text, close and "the bot is back", STOP."""

from __future__ import annotations

import pytest

from coachbox.conversation.events import DeliverDailyLesson
from coachbox.store import handover as handovers
from coachbox.store import transaction
from coachbox.turns.handover import close_and_notify

SCHOOL_TIME = "2026-03-02T07:00:00+00:00"  # Monday 10:00 in Nairobi, inside the default office hours


def _exchanges(driver) -> int:
    return driver.conn.execute(
        "SELECT COUNT(*) FROM tutor_exchanges WHERE learner_id = ?", (driver.learner_id,)
    ).fetchone()[0]


@pytest.mark.at(SCHOOL_TIME)
def test_teacher_opens_one_handover_and_free_text_goes_to_it_until_a_teacher_closes_it(driver):
    driver.onboard()
    [reply] = driver.say("TEACHER")  # no quiz reprompt: what they write next is for the teacher
    assert "A teacher has your message and will answer you here soon" in reply
    handover = handovers.open_handover_for(driver.conn, driver.learner_id)
    assert handover is not None and handover.reason == "asked" and handover.bot_paused
    assert handover.acked_at == driver.clock.now().isoformat()  # told just now: the next message is not acked

    driver.clock.advance(minutes=5)
    assert driver.say("my payment of 200 went but no lesson") == []  # the bot keeps out of it
    driver.clock.advance(minutes=30)
    assert driver.say("hello?") == []
    assert _exchanges(driver) == 0  # nothing went to the AI tutor
    driver.clock.advance(minutes=30)
    [ack] = driver.say("anyone?")  # an hour after the last acknowledgement: one more
    assert "Your teacher sees this message" in ack
    events = handovers.handover_events(driver.conn, handover.id)
    messages = [e for e in events if e.kind == "learner_message"]
    assert [e.body for e in messages] == ["my payment of 200 went but no lesson", "hello?", "anyone?"]
    assert all(e.message_id for e in messages)  # linked to the inbound rows
    assert handovers.count_open(driver.conn) == 1

    assert driver.say("TEACHER")  # asking again adds to the same one
    assert [h.id for h in handovers.list_handovers(driver.conn)] == [handover.id]

    with transaction(driver.conn):
        message_id = close_and_notify(driver.conn, driver.res.texts, handover.id, driver.clock.now(), None)
    assert message_id is not None
    row = driver.conn.execute("SELECT body, kind, status FROM messages WHERE id = ?", (message_id,)).fetchone()
    assert "I'm back, Amina" in row["body"] and row["kind"] == "reply" and row["status"] == "queued"
    with transaction(driver.conn):  # a second click: nothing more
        assert close_and_notify(driver.conn, driver.res.texts, handover.id, driver.clock.now(), None) is None
    assert handovers.open_handover_for(driver.conn, driver.learner_id) is None

    driver.say("what is a PIN?")
    assert _exchanges(driver) == 1  # the bot (its tutor) answers free text again


@pytest.mark.at(SCHOOL_TIME)
def test_in_kiswahili_too_and_stop_closes_it(driver):
    driver.say("habari")
    driver.say("ndiyo")
    driver.say("2")  # Kiswahili
    driver.say("1")
    driver.say("7")
    [reply] = driver.say("MWALIMU")
    assert "Mwalimu amepokea ujumbe wako" in reply
    handover = handovers.open_handover_for(driver.conn, driver.learner_id)
    assert handover is not None
    assert driver.say("ACHA")  # STOP's own reply
    closed = handovers.get_handover(driver.conn, handover.id)
    assert closed is not None and closed.status == "closed" and closed.closed_by is None
    assert [e.kind for e in handovers.handover_events(driver.conn, handover.id)][-1] == "closed"


@pytest.mark.at(SCHOOL_TIME)
def test_the_bot_is_back_in_the_learners_language(driver):
    driver.say("habari")
    driver.say("ndiyo")
    driver.say("2")
    driver.say("1")
    driver.say("7")
    driver.say("MWALIMU")
    handover = handovers.open_handover_for(driver.conn, driver.learner_id)
    with transaction(driver.conn):
        message_id = close_and_notify(driver.conn, driver.res.texts, handover.id, driver.clock.now(), None)
    body = driver.conn.execute("SELECT body FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
    assert "nimerudi" in body and "MWALIMU" in body


@pytest.mark.at(SCHOOL_TIME)
def test_paused_lessons_are_not_sent_and_running_ones_are(driver):
    driver.onboard()
    driver.say("TEACHER")
    handover = handovers.open_handover_for(driver.conn, driver.learner_id)
    with transaction(driver.conn):
        handovers.set_paused(driver.conn, handover.id, driver.clock.now(), lessons=True)
    driver.clock.advance(days=1)
    assert driver.event(DeliverDailyLesson()) == []
    with transaction(driver.conn):
        handovers.set_paused(driver.conn, handover.id, driver.clock.now(), lessons=False)
    driver.clock.advance(days=1)
    assert driver.event(DeliverDailyLesson())  # lessons continue during a handover unless paused


@pytest.mark.at(SCHOOL_TIME)
def test_delete_during_a_handover_closes_it_and_keeps_no_words(driver):
    driver.onboard()
    driver.say("TEACHER my password is hunter2")
    driver.clock.advance(minutes=1)
    driver.say("and my number is 0712345678")
    handover = handovers.open_handover_for(driver.conn, driver.learner_id)
    driver.say("DELETE")
    driver.say("YES")
    erased = handovers.get_handover(driver.conn, handover.id)
    assert erased is not None and erased.status == "closed" and erased.detail == ""
    assert all(e.body == "" for e in handovers.handover_events(driver.conn, handover.id))


@pytest.mark.at(SCHOOL_TIME)
def test_a_safeguarding_word_opens_a_handover_and_the_learner_is_told_where_help_is(driver):
    driver.onboard()
    [reply] = driver.say("my uncle beats me")
    assert "116" in reply and "A teacher has been told" in reply
    handover = handovers.open_handover_for(driver.conn, driver.learner_id)
    assert handover is not None and handover.reason == "safeguarding" and handover.detail == "my uncle beats me"
    assert _exchanges(driver) == 0
    driver.clock.advance(minutes=2)
    assert driver.say("please help") == []  # told a minute ago: the teacher has it
