"""store.handover on a migrated database: one open handover per learner, events, the inbox order, saved replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coachbox.store import handover as h
from coachbox.store import proactive

T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _learner(conn, n: int, cohort: str | None = None) -> int:
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, name, cohort, language, created_at, updated_at)
           VALUES (?, ?, ?, 'en', 'x', 'x')""",
        (f"sim:+25470000000{n}", f"Learner {n}", cohort),
    )
    return int(cursor.lastrowid)


def _admin(conn, email: str) -> int:
    cursor = conn.execute("INSERT INTO admins (email, role, created_at) VALUES (?, 'editor', 'x')", (email,))
    return int(cursor.lastrowid)


def test_a_learner_has_one_open_handover_and_more_reasons_are_events_on_it(conn):
    amina = _learner(conn, 1)
    first = h.open_handover(conn, amina, "asked", T0, detail="TEACHER")
    again = h.open_handover(
        conn, amina, "payment", T0 + timedelta(minutes=5), detail="STK push failed", payment_id=None
    )
    assert again == first
    handover = h.open_handover_for(conn, amina)
    assert handover is not None
    assert (handover.reason, handover.detail, handover.status) == ("asked", "TEACHER", "open")
    assert handover.bot_paused and not handover.lessons_paused and handover.learner_name == "Learner 1"
    opened = [(e.kind, e.reason, e.body) for e in h.handover_events(conn, first)]
    assert opened == [("opened", "asked", "TEACHER"), ("opened", "payment", "STK push failed")]
    with pytest.raises(ValueError, match="unknown handover reason 'angry'"):
        h.open_handover(conn, amina, "angry", T0)


def test_an_openers_key_makes_a_replay_change_nothing_even_after_it_was_closed(conn):
    amina = _learner(conn, 1)
    first = h.open_handover(conn, amina, "payment", T0, key="payment:12:failed")
    assert h.open_handover(conn, amina, "payment", T0, key="payment:12:failed") == first
    assert len(h.handover_events(conn, first)) == 1
    assert h.close_handover(conn, first, T0, None)
    assert h.open_handover(conn, amina, "payment", T0, key="payment:12:failed") == first  # a late webhook replay
    assert h.open_handover_for(conn, amina) is None
    second = h.open_handover(conn, amina, "payment", T0, key="payment:13:failed")  # a new failure: a new one
    assert second != first and h.open_handover_for(conn, amina).id == second


def test_the_wait_starts_with_the_learner_and_ends_with_a_teacher_reply(conn):
    amina = _learner(conn, 1)
    teacher = _admin(conn, "t@school.org")
    hid = h.open_handover(conn, amina, "asked", T0)
    h.add_handover_event(conn, hid, "note", T0 + timedelta(minutes=1), admin_id=teacher, body="call her mother")
    assert h.get_handover(conn, hid).waiting_since == T0.isoformat()  # a note is internal: the learner still waits
    h.add_handover_event(conn, hid, "teacher_reply", T0 + timedelta(minutes=9), admin_id=teacher, body="Hi!")
    replied = h.get_handover(conn, hid)
    assert replied.waiting_since is None and replied.first_reply_at == (T0 + timedelta(minutes=9)).isoformat()
    h.add_handover_event(conn, hid, "learner_message", T0 + timedelta(minutes=20), body="thanks, and…")
    h.add_handover_event(conn, hid, "teacher_reply", T0 + timedelta(minutes=30), admin_id=teacher, body="Yes?")
    later = h.get_handover(conn, hid)
    assert later.first_reply_at == (T0 + timedelta(minutes=9)).isoformat()  # the first reply is kept
    with pytest.raises(ValueError, match="unknown handover event kind"):
        h.add_handover_event(conn, hid, "shout", T0)
    h.record_first_reply(conn, hid, T0 + timedelta(hours=1))
    assert h.get_handover(conn, hid).first_reply_at == (T0 + timedelta(minutes=9)).isoformat()


def test_the_inbox_lists_the_newest_wait_first_within_the_scope_and_by_assignee(conn):
    a, b, c = _learner(conn, 1, "Form 1"), _learner(conn, 2, "Form 2"), _learner(conn, 3, "Form 1")
    teacher = _admin(conn, "t@school.org")
    ha = h.open_handover(conn, a, "asked", T0)
    hb = h.open_handover(conn, b, "safeguarding", T0 + timedelta(minutes=10))
    hc = h.open_handover(conn, c, "tutor_no_answer", T0 + timedelta(minutes=5))
    h.add_handover_event(conn, hc, "teacher_reply", T0 + timedelta(minutes=6), admin_id=teacher)  # answered
    assert [x.id for x in h.list_handovers(conn)] == [hb, ha, hc]
    assert [x.id for x in h.list_handovers(conn, scope_sql="learners.cohort = ?", scope_params=("Form 1",))] == [
        ha,
        hc,
    ]
    assert h.count_open(conn) == 3
    assert h.count_open(conn, "learners.cohort = ?", ("Form 2",)) == 1
    h.assign_handover(conn, ha, teacher, T0, teacher)
    assert [x.id for x in h.list_handovers(conn, assigned_to=teacher)] == [ha]
    assert h.handover_events(conn, ha)[-1].kind == "assigned"
    assert h.close_handover(conn, ha, T0 + timedelta(hours=1), teacher)
    assert not h.close_handover(conn, ha, T0 + timedelta(hours=1), teacher)  # a second click changes nothing
    closed = h.get_handover(conn, ha)
    assert (closed.status, closed.closed_by, closed.waiting_since) == ("closed", teacher, None)
    assert [x.id for x in h.list_handovers(conn, status="closed")] == [ha]
    assert len(h.list_handovers(conn, status=None)) == 3
    assert h.count_open(conn) == 2


def test_reopening_is_refused_while_the_learner_has_another_open(conn):
    amina = _learner(conn, 1)
    first = h.open_handover(conn, amina, "asked", T0)
    h.close_handover(conn, first, T0, None)
    second = h.open_handover(conn, amina, "asked", T0 + timedelta(days=1))
    assert not h.reopen_handover(conn, first, T0 + timedelta(days=1), None)
    h.close_handover(conn, second, T0 + timedelta(days=1), None)
    assert h.reopen_handover(conn, first, T0 + timedelta(days=2), None)
    assert h.open_handover_for(conn, amina).id == first
    assert h.handover_events(conn, first)[-1].kind == "reopened"


def test_pauses_and_the_engine_view(conn):
    amina = _learner(conn, 1)
    hid = h.open_handover(conn, amina, "asked", T0, acked=True)
    h.set_paused(conn, hid, T0, lessons=True, bot=False)
    view = h.open_for_engine(conn, amina)
    assert view is not None and view.lessons_paused and not view.bot_paused and view.acked_at == T0.isoformat()
    assert h.lessons_paused(conn, amina)
    assert h.open_for_engine(conn, _learner(conn, 2)) is None


def test_saved_replies_per_language(conn):
    hello = h.save_reply(conn, None, "Hello", "en", "Hi {name}, a teacher here.", T0)
    h.save_reply(conn, None, "Habari", "sw", "Habari, ni mwalimu.", T0)
    h.save_reply(conn, None, "After hours", "en", "We answer tomorrow.", T0)
    assert [r.title for r in h.list_saved_replies(conn, "en")] == ["After hours", "Hello"]
    assert [r.language for r in h.list_saved_replies(conn)] == ["en", "en", "sw"]
    assert h.save_reply(conn, hello, "Hello", "en", "Hello!", T0 + timedelta(hours=1)) == hello
    assert [r.body for r in h.list_saved_replies(conn, "en") if r.id == hello] == ["Hello!"]
    h.delete_saved_reply(conn, hello)
    assert [r.title for r in h.list_saved_replies(conn, "en")] == ["After hours"]


def test_the_daily_fan_outs_snapshots_carry_the_open_handover(conn):
    amina, baraka = _learner(conn, 1), _learner(conn, 2)
    hid = h.open_handover(conn, amina, "asked", T0)
    h.set_paused(conn, hid, T0, lessons=True)
    rows = proactive.learner_rows(conn, [amina, baraka])
    snapshots = proactive.snapshots(conn, rows.values())
    assert snapshots[amina].handover is not None and snapshots[amina].handover.lessons_paused
    assert snapshots[baraka].handover is None


def test_a_learner_asking_pauses_the_bot_of_a_handover_a_payment_review_opened(conn):
    amina = _learner(conn, 1)
    hid = h.open_handover(conn, amina, "payment", T0, bot_paused=False)
    assert not h.get_handover(conn, hid).bot_paused
    h.open_handover(conn, amina, "payment", T0, bot_paused=False)
    assert not h.get_handover(conn, hid).bot_paused
    assert h.open_handover(conn, amina, "asked", T0) == hid
    assert h.get_handover(conn, hid).bot_paused
