"""The batched proactive turn gives what run_event gives, learner for learner: outbox rows and database state."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import diskcache
import pytest

from coachbox import store
from coachbox.content.importer import import_folder
from coachbox.conversation.events import DeliverDailyLesson, Message
from coachbox.payments.subscriptions import phone_region
from coachbox.turns.batch import _region, run_events_batch
from coachbox.turns.runner import Resources, _apply, run_event

NOW = datetime.fromisoformat("2026-03-03T04:00:00+00:00")  # Tuesday 07:00 in Nairobi
PLANS = {
    "monthly": {
        "title": "Premium",
        "price": {"KES": 20000},
        "period_days": 30,
        "courses": "all-premium",
        "free_lessons": 1,
    }
}
# What a proactive turn may change, by natural key (row ids differ only by the order statements ran in).
TABLES = {
    "messages": "SELECT learner_id, direction, channel, address, body, media, kind, template_key, content_variables, "
    "idempotency_key, status, next_attempt_at, sequence, created_at FROM messages ORDER BY id",
    "learners": "SELECT * FROM learners ORDER BY id",
    "enrollments": "SELECT learner_id, course_id, status, next_position, started_at, completed_at, score "
    "FROM enrollments ORDER BY learner_id, course_id",
    "progress": "SELECT learner_id, lesson_id, delivered_at, quiz_started_at, completed_at, completed_local_date, "
    "correct, total, attempts, passed FROM progress ORDER BY learner_id, lesson_id",
    "deliveries": "SELECT learner_id, kind, key, lesson_id, due_at, status, created_at FROM deliveries "
    "ORDER BY learner_id, kind, key",
    "badges": "SELECT learner_id, code, course_id, awarded_at FROM learner_badges ORDER BY learner_id, code",
}


def _learner(
    conn,
    n,
    course_id,
    *,
    status="active",
    opted_out=False,
    inbound="2026-03-02T12:00:00+00:00",
    position=1,
    language="en",
    phone=None,
):
    phone = phone or f"+2547000{n:05d}"
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, language, timezone, lesson_time, status, opted_out,
                                 current_course_id, last_inbound_at, created_at, updated_at)
           VALUES (?, 'whatsapp', ?, ?, ?, 'Africa/Nairobi', '07:00', ?, ?, ?, ?, '2026-02-01', '2026-02-01')""",
        (f"whatsapp:{phone}", phone, f"Learner{n} Test", language, status, int(opted_out), course_id, inbound),
    )
    conn.execute(
        "INSERT INTO enrollments (learner_id, course_id, started_at, next_position) VALUES (?, ?, ?, ?)",
        (cursor.lastrowid, course_id, "2026-02-01", position),
    )
    return cursor.lastrowid


@pytest.fixture
def world(settings, tmp_path):
    """Two identical databases holding learners in every situation a daily lesson meets."""
    settings = settings.replace(plans=PLANS)
    conn = store.open_database(settings.db_path)
    import_folder(conn, settings.content_dir, settings, progress=None)
    course = {r["slug"]: r["id"] for r in conn.execute("SELECT id, slug FROM courses")}
    money, python, swahili = course["mobile-money-safety"], course["python-basics"], course["mobile-money-safety-sw"]
    lessons = conn.execute("SELECT COUNT(*) FROM lessons WHERE course_id = ?", (money,)).fetchone()[0]
    ids = [
        _learner(conn, 1, money),  # window open: one folded message
        _learner(conn, 2, money, inbound="2026-03-02T04:20:00+00:00"),  # window closes in 20 minutes: the nudge
        _learner(conn, 3, money, inbound=None),  # never wrote: greeting apart
        _learner(conn, 4, money, opted_out=True),  # STOP: nothing
        _learner(conn, 5, money, status="paused"),  # paused: nothing
        _learner(conn, 6, money, position=lessons + 1),  # course finished: nothing
        _learner(conn, 7, python, position=2),  # premium, no plan: nothing
        _learner(conn, 8, python, position=2),  # premium with a plan: a lesson
        _learner(conn, 9, swahili, language="sw"),  # Kiswahili
        _learner(conn, 10, money, position=3, phone="+12025550123"),  # a shared country code
        _learner(conn, 11, money, status="deleted"),  # erased: nothing
        _learner(conn, 12, money),  # today's lesson already done
        _learner(conn, 13, money, position=2),  # a lesson without a quiz
        _learner(conn, 14, money, inbound="2026-02-20T05:00:00+00:00"),  # silent, backed off: held, no nudge
        _learner(conn, 15, money, inbound="2026-02-28T05:00:00+00:00"),  # silent, the back-off's gap over: nudge
    ]
    # Nudges and reminders since they last wrote (learning.backoff: 2 daily, then 2, 4, 7 days apart).
    prompted = [
        (ids[13], "nudge", "2026-02-21"),
        (ids[13], "reminder", "2026-02-22"),
        (ids[13], "nudge", "2026-03-02"),
        (ids[14], "nudge", "2026-03-01"),
        (ids[14], "reminder", "2026-02-28"),
        (ids[14], "reminder", "2026-03-01"),
    ]
    conn.executemany(
        """INSERT INTO deliveries (learner_id, kind, key, status, created_at)
                        VALUES (?, ?, ?, 'done', '2026-03-01')""",
        prompted,
    )
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, status, created_at)
                    VALUES (?, 'daily_lesson', '2026-03-03', 'done', '2026-03-03')""",
        (ids[11],),
    )
    no_quiz = conn.execute("SELECT id FROM lessons WHERE course_id = ? AND position = 2", (money,)).fetchone()[0]
    conn.execute("DELETE FROM questions WHERE lesson_id = ?", (no_quiz,))
    snapshot = None  # manual grant without a plan snapshot
    conn.execute(
        """INSERT INTO subscriptions (learner_id, plan, plan_snapshot_id, provider, courses, status, current_period_end,
                                      access_until, created_at, updated_at)
           VALUES (?, 'monthly', ?, 'manual', 'all-premium', 'active', '2026-03-20', '2026-03-23', '2026-02-20',
                   '2026-02-20')""",
        (ids[7], snapshot),
    )
    conn.commit()
    twin_path = settings.data_dir / "twin.db"
    twin = sqlite3.connect(twin_path)
    conn.backup(twin)
    twin.close()
    twin = store.connect(twin_path)
    cache_dir = settings.cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    caches = diskcache.Cache(str(cache_dir / "a")), diskcache.Cache(str(cache_dir / "b"))
    yield settings, conn, twin, caches, ids
    for c in caches:
        c.close()
    twin.close()
    conn.close()


def _state(conn):
    return {name: [tuple(r) for r in conn.execute(sql)] for name, sql in TABLES.items()}


def test_it_gives_what_run_event_gives_learner_for_learner(world):
    settings, one_by_one, batched, (cache_a, cache_b), ids = world
    res = Resources.build(settings)
    expected = {}
    with store.transaction(one_by_one):
        for learner_id in ids:
            expected[learner_id] = run_event(
                one_by_one,
                cache_a,
                settings,
                res.catalogue(one_by_one),
                res.texts,
                learner_id,
                DeliverDailyLesson(),
                NOW,
                rules=res.rules,
                own_transaction=False,
            )
    with store.transaction(batched):
        got = run_events_batch(batched, cache_b, Resources.build(settings), ids, DeliverDailyLesson(), NOW)
    assert list(got) == ids
    for learner_id in ids:
        e, g = expected[learner_id], got[learner_id]
        assert (g.duplicate, g.learner_id, len(g.outbox_ids), g.followups) == (
            e.duplicate,
            e.learner_id,
            len(e.outbox_ids),
            e.followups,
        ), learner_id
    assert _state(batched) == _state(one_by_one)
    assert len(cache_b) == 0  # no session written: the next turn rebuilds it

    # What the learners received: one folded message when the window stays open; otherwise only the nudge (the
    # lesson_nudge template with their name and the lesson title), the lesson held for their reply.
    rows = {
        i: batched.execute(
            "SELECT body, kind, template_key, content_variables FROM messages WHERE learner_id = ? ORDER BY id", (i,)
        ).fetchall()
        for i in ids
    }
    assert [r["kind"] for r in rows[ids[0]]] == ["lesson"]
    body = rows[ids[0]][0]["body"]
    assert body.startswith("☀️ Good day, Learner1!") and "Lesson 1 of" in body and "*Question 1/" in body
    assert rows[ids[0]][0]["template_key"] is None
    assert [r["kind"] for r in rows[ids[1]]] == ["nudge"]
    nudge = rows[ids[1]][0]
    assert nudge["template_key"] == "lesson_nudge" and "is ready" in nudge["body"]
    assert json.loads(nudge["content_variables"])["1"] == "Learner2"
    assert all(rows[i] == [] for i in (ids[3], ids[4], ids[5], ids[6], ids[10], ids[11]))
    assert rows[ids[7]] and rows[ids[8]] and rows[ids[9]] and rows[ids[12]]
    # The silent learners' back-off: the same in both (the lesson held either way; a nudge only when it allows).
    assert rows[ids[13]] == [] and [r["kind"] for r in rows[ids[14]]] == ["nudge"]
    held = "SELECT kind, key, status FROM deliveries WHERE learner_id = ? AND kind IN ('held_lesson', 'nudge') ORDER BY kind, key"
    assert [tuple(r) for r in batched.execute(held, (ids[13],))] == [
        ("held_lesson", "2026-03-03", "pending"),
        ("nudge", "2026-02-21", "done"),
        ("nudge", "2026-03-02", "done"),
    ]


def test_it_leaves_the_next_turn_to_rebuild_the_session(world):
    settings, _, batched, (_, cache), ids = world
    from coachbox.channels.base import Inbound
    from coachbox.turns.runner import handle_inbound_sync

    res = Resources.build(settings)
    with store.transaction(batched):
        run_events_batch(batched, cache, res, ids[:1], DeliverDailyLesson(), NOW)
    row = batched.execute("SELECT channel_key, phone FROM learners WHERE id = ?", (ids[0],)).fetchone()
    later = NOW + timedelta(minutes=3)
    outcome = handle_inbound_sync(
        batched,
        cache,
        settings,
        res.catalogue(batched),
        res.texts,
        Inbound("whatsapp", row["channel_key"], "b", "SMbatch1", later, phone=row["phone"]),
        later,
    )
    first = batched.execute("SELECT body FROM messages WHERE id = ?", (outcome.outbox_ids[0],)).fetchone()[0]
    assert "*Question 2/" in first  # the lesson asked question 1 (lean days): the answer brings question 2


def test_it_refuses_events_it_does_not_batch(world):
    settings, _, batched, (_, cache), ids = world
    with pytest.raises(TypeError):
        run_events_batch(batched, cache, Resources.build(settings), ids, Message("hi"), NOW)


@pytest.mark.parametrize(
    "phone",
    [
        "+254712345678",
        "+12025550123",
        "+14165550123",
        "+447911123456",
        "+79161234567",
        "+2347000",
        "0712345678",
        "+8821234567",
        None,
        "",
    ],
)
def test_it_finds_the_same_phone_region_without_parsing(phone):
    assert _region(phone) == phone_region(phone)


def test_it_copies_a_snapshot_as_replace_does():
    from dataclasses import replace

    from coachbox.learning.learner import Enrollment, Learner

    alice = Learner(1, name="Alice Wanjiru", enrollments=(Enrollment(3, next_position=2),), last_lesson_id=7)
    changes = {"enrollments": (Enrollment(3, next_position=3),), "last_lesson_id": 8, "held": "2026-03-03"}
    assert alice.evolve(**changes) == replace(alice, **changes)
    assert alice.last_lesson_id == 7  # the original is untouched
    with pytest.raises(TypeError):
        alice.evolve(nickname="Ali")


def test_it_settles_a_claim_the_turn_wrote_first(world):
    # A lesson decided one by one (personalised lessons) records its own delivery row: the claim takes it over.
    from coachbox.store import proactive, progress

    _, _, conn, _, ids = world
    lesson = conn.execute("SELECT id FROM lessons ORDER BY id LIMIT 1").fetchone()[0]
    alice, bob = ids[0], ids[1]
    conn.execute("DELETE FROM deliveries WHERE learner_id IN (?, ?)", (alice, bob))
    progress.record_delivery(
        conn, alice, lesson_id=lesson, course_id=1, next_position=2, kind="daily_lesson", key="2026-03-03", now=NOW
    )
    due = "2026-03-03T04:00:00+00:00"
    proactive.claim_settled(
        conn, "daily_lesson", [(alice, "2026-03-03", lesson, due, "done"), (bob, "2026-03-03", None, due, "empty")], NOW
    )
    got = conn.execute(
        "SELECT learner_id, lesson_id, due_at, status, created_at FROM deliveries "
        "WHERE kind = 'daily_lesson' AND learner_id IN (?, ?) ORDER BY learner_id",
        (alice, bob),
    )
    assert [tuple(r) for r in got] == [
        (alice, lesson, due, "done", NOW.isoformat()),
        (bob, None, due, "empty", NOW.isoformat()),
    ]


# -- decided outside the write lock (decide_batch, then write_batch) -------------------------------------------------
def _say(conn, cache, settings, res, learner_id, text, sid):
    from coachbox.channels.base import Inbound
    from coachbox.turns.runner import handle_inbound_sync

    row = conn.execute("SELECT channel_key, phone FROM learners WHERE id = ?", (learner_id,)).fetchone()
    handle_inbound_sync(
        conn,
        cache,
        settings,
        res.catalogue(conn),
        res.texts,
        Inbound("whatsapp", row["channel_key"], text, sid, NOW, phone=row["phone"]),
        NOW,
    )


def _meanwhile(conn, cache, settings, res, ids):
    """What happens while a batch is being decided: three learners write, the admin moves a lesson time."""
    _say(conn, cache, settings, res, ids[0], "next", "SMmeanwhile1")  # lesson 1 now: the daily one is lesson 2
    _say(conn, cache, settings, res, ids[1], "progress", "SMmeanwhile2")  # the window is open again: one message
    _say(conn, cache, settings, res, ids[2], "stop", "SMmeanwhile3")  # opted out: no lesson
    conn.execute("UPDATE learners SET lesson_time = '09:00' WHERE id = ?", (ids[8],))


def _daily_lessons(conn):
    """Each learner's daily-lesson outbox rows and delivery rows: at most one lesson per local date."""
    sent = conn.execute("""SELECT learner_id, COUNT(*) FROM messages WHERE idempotency_key LIKE 'daily_lesson:%:out:0'
                           GROUP BY learner_id""").fetchall()
    claimed = conn.execute("""SELECT learner_id, key, COUNT(*) FROM deliveries WHERE kind = 'daily_lesson'
                              GROUP BY learner_id, key""").fetchall()
    assert all(r[1] == 1 for r in sent) and all(r[2] == 1 for r in claimed)
    return {r[0] for r in sent}


def test_it_decides_again_learners_who_changed_between_the_read_and_the_write(world):
    settings, serial, batched, (cache_a, cache_b), ids = world
    res = Resources.build(settings)
    # Serially: what happened meanwhile, then the batch.
    _meanwhile(serial, cache_a, settings, res, ids)
    with store.transaction(serial):
        expected = run_events_batch(serial, cache_a, res, ids, DeliverDailyLesson(), NOW)
    # Out of the lock: the batch is decided first, the same things happen, then it is written.
    from coachbox.turns.batch import decide_batch, write_batch

    serial_state = _state(serial)
    batched.execute("BEGIN")
    decided = decide_batch(batched, res, ids, DeliverDailyLesson(), NOW)
    batched.execute("COMMIT")
    _meanwhile(batched, cache_b, settings, res, ids)
    with store.transaction(batched):
        got = write_batch(batched, cache_b, res, decided)
    for learner_id in ids:
        e, g = expected[learner_id], got[learner_id]
        assert (g.duplicate, g.learner_id, len(g.outbox_ids), g.followups) == (
            e.duplicate,
            e.learner_id,
            len(e.outbox_ids),
            e.followups,
        ), learner_id
    assert _state(batched) == serial_state
    assert ids[2] not in _daily_lessons(batched)
    lesson = batched.execute(
        """SELECT body FROM messages WHERE learner_id = ? AND idempotency_key LIKE 'daily_lesson:%:out:0'
                                """,
        (ids[0],),
    ).fetchone()[0]
    assert "Lesson 2 of" in lesson  # NEXT took lesson 1 meanwhile
    kinds = batched.execute(
        """SELECT kind FROM messages WHERE learner_id = ? AND idempotency_key LIKE 'daily_lesson:%'
                               ORDER BY id""",
        (ids[1],),
    ).fetchall()
    assert [k[0] for k in kinds] == ["lesson"]  # greeting folded in: decided again with their new message


def test_it_sends_each_lesson_once_when_learners_change_while_the_fanout_decides(world):
    from coachbox.schedule.coach import Coach
    from coachbox.schedule.daily import run_daily_lessons

    settings, serial, batched, (cache_a, cache_b), ids = world
    res = Resources.build(settings)
    for conn in (serial, batched):
        conn.execute(
            "UPDATE learners SET next_lesson_at = ? WHERE status = 'active' AND opted_out = 0", (NOW.isoformat(),)
        )
    _meanwhile(serial, cache_a, settings, res, ids)
    run_daily_lessons(serial, Coach(settings, cache_a), NOW)
    seen = []

    def meanwhile(learner_ids):
        seen.append(learner_ids)
        if len(seen) == 1:
            _meanwhile(batched, cache_b, settings, res, ids)

    report = run_daily_lessons(batched, Coach(settings, cache_b), NOW, before_write=meanwhile)
    assert set(ids[:3]) | {ids[8]} <= set(seen[0])  # all four were decided before they changed
    assert report.sent == len(_daily_lessons(batched))
    run_daily_lessons(batched, Coach(settings, cache_b), NOW)  # the moved lesson is rescheduled (as serially)
    assert _state(batched) == _state(serial)
    sent = _daily_lessons(batched)
    assert ids[0] in sent and ids[1] in sent and ids[2] not in sent and ids[8] not in sent
    assert (
        batched.execute("SELECT next_lesson_at FROM learners WHERE id = ?", (ids[8],)).fetchone()[0]
        == "2026-03-03T06:00:00+00:00"
    )  # 09:00 in Nairobi: today's lesson comes then, once


# -- a lesson day's effects written for the whole batch (write_batch), not through _apply one learner at a time ------
# The tallies the triggers keep (the course page's, the Costs page's) and the sessions, besides TABLES.
KEPT = {
    "lesson_tallies": "SELECT lesson_id, delivered, completed FROM lesson_tallies ORDER BY lesson_id",
    "course_learners": "SELECT * FROM course_learners ORDER BY course_id, learner_id",
    "cost_totals": "SELECT * FROM cost_totals ORDER BY hour, direction, kind, category, channel, course_id, class",
    "sessions": "SELECT learner_id, state FROM learner_sessions ORDER BY learner_id",
}


def _lesson_day(conn, ids):
    """Rows a lesson's writes meet besides fresh ones: a follow-up quiz still pending for the lesson the learner
    gets today (starting the quiz cancels it), an 'empty' claim of today (the lesson becomes it), and a progress
    row of today's lesson from an earlier delivery (its quiz started then)."""
    lesson = {r["course_id"]: r["id"] for r in conn.execute("SELECT id, course_id FROM lessons WHERE position = 1")}
    alice, bob, swahili = ids[0], ids[9], ids[8]
    course = {i: conn.execute("SELECT current_course_id FROM learners WHERE id = ?", (i,)).fetchone()[0] for i in ids}
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, 'quiz_followup', ?, ?, '2026-03-02T04:30:00+00:00', 'pending', '2026-03-02T04:00:00+00:00')""",
        (alice, str(lesson[course[alice]]), lesson[course[alice]]),
    )
    conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, status, due_at, created_at)
           VALUES (?, 'daily_lesson', '2026-03-03', 'empty', '2026-03-03T04:00:00+00:00', '2026-03-03')""",
        (bob,),
    )
    conn.execute(
        """INSERT INTO progress (learner_id, lesson_id, delivered_at, quiz_started_at)
           VALUES (?, ?, '2026-03-01T04:00:00+00:00', '2026-03-01T04:05:00+00:00')""",
        (swahili, lesson[course[swahili]]),
    )
    conn.commit()


@pytest.mark.parametrize(("lean", "style"), [(True, "per_question"), (True, "one_message"), (False, "per_question")])
def test_it_writes_a_lesson_days_effects_for_the_whole_batch_as_run_event_does(world, monkeypatch, lean, style):
    import coachbox.turns.batch as batch

    settings, one_by_one, batched, (cache_a, cache_b), ids = world
    settings = settings.replace(learning={"lean_days": lean, "quiz_style": style})
    for conn in (one_by_one, batched):
        _lesson_day(conn, ids)
    applied = []

    def counted(conn, cache, learner_id, *args, **kwargs):
        applied.append(learner_id)
        return _apply(conn, cache, learner_id, *args, **kwargs)

    res = Resources.build(settings)
    with store.transaction(one_by_one):
        expected = {
            i: run_event(
                one_by_one,
                cache_a,
                settings,
                res.catalogue(one_by_one),
                res.texts,
                i,
                DeliverDailyLesson(),
                NOW,
                rules=res.rules,
                own_transaction=False,
            )
            for i in ids
        }
    monkeypatch.setattr(batch, "_apply", counted)
    with store.transaction(batched):
        got = run_events_batch(batched, cache_b, Resources.build(settings), ids, DeliverDailyLesson(), NOW)
    for i in ids:
        e, g = expected[i], got[i]
        assert (g.duplicate, len(g.outbox_ids), g.followups) == (e.duplicate, len(e.outbox_ids), e.followups), i
    assert _state(batched) == _state(one_by_one)
    kept = {name: [tuple(r) for r in batched.execute(sql)] for name, sql in KEPT.items()}
    assert kept == {name: [tuple(r) for r in one_by_one.execute(sql)] for name, sql in KEPT.items()}
    # Only the lesson without a quiz (it completes at once: streak, badges) went one learner at a time.
    assert applied == [ids[12]]
    quiz = "SELECT quiz_started_at FROM progress WHERE learner_id = ? ORDER BY lesson_id"
    followup = "SELECT status FROM deliveries WHERE learner_id = ? AND kind = 'quiz_followup' ORDER BY key"
    claim = "SELECT status, lesson_id IS NOT NULL FROM deliveries WHERE learner_id = ? AND kind = 'daily_lesson'"
    if lean:  # the quiz starts in the lesson: no follow-up, and the one pending for that lesson is cancelled
        assert [r[0] for r in batched.execute(quiz, (ids[0],))] == [NOW.isoformat()]
        assert [r[0] for r in batched.execute(followup, (ids[0],))] == ["cancelled"]
        assert [r[0] for r in batched.execute(quiz, (ids[8],))] == [NOW.isoformat()]
    else:  # the follow-up quiz 30 minutes later
        assert [r[0] for r in batched.execute(quiz, (ids[0],))] == [None]
        assert [r[0] for r in batched.execute(followup, (ids[0],))] == ["pending"]
    assert [tuple(r) for r in batched.execute(claim, (ids[9],))] == [("done", 1)]
    # Silent learners outside the window: the lesson held for their reply (batched too), a nudge when the back-off
    # allows one.
    held = "SELECT kind, status FROM deliveries WHERE learner_id = ? AND kind IN ('held_lesson', 'nudge') AND key = ?"
    assert sorted(tuple(r) for r in batched.execute(held, (ids[14], "2026-03-03"))) == [
        ("held_lesson", "pending"),
        ("nudge", "done"),
    ]
    assert [tuple(r) for r in batched.execute(held, (ids[13], "2026-03-03"))] == [("held_lesson", "pending")]
    assert sum(r[0] for r in batched.execute("SELECT delivered FROM lesson_tallies")) > 0
