"""Roll-ups into daily_stats and the nightly housekeeping: once a night, backups kept to N, pruning, redaction."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import pytest
from pyrage import x25519

from coachbox.core.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.housekeeping import REDACT_BATCH, nightly_due, redact_old_messages, run_nightly
from coachbox.schedule.rollups import day_bounds, roll_up
from tests.admin.conftest import cast, password_hash  # noqa: F401 - fixtures: the admin cast, for the transcript


def _stats(conn, day, course_id=0, cohort=""):
    return {
        r["metric"]: r["value"]
        for r in conn.execute(
            "SELECT metric, value FROM daily_stats WHERE date = ? AND course_id = ? AND cohort = ?",
            (day, course_id, cohort),
        )
    }


def test_it_rolls_up_a_day_per_box_course_and_cohort_idempotently(box):
    keen = box.learner(cohort="Class A")
    quitter = box.learner(cohort="Class A")
    box.learner(cohort="Class B")
    clock = FakeClock("2026-03-02T04:00:30+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    clock.advance(minutes=10)
    for text in ("quiz", "B", "true", "PIN"):  # two of three right
        box.say(keen, text, clock.now())
    box.say(quitter, "STOP", clock.now())
    box.conn.execute("UPDATE messages SET status = 'delivered' WHERE direction = 'out' AND kind = 'lesson'")
    assert roll_up(box.conn, date(2026, 3, 2), "Africa/Nairobi") > 0
    stats = _stats(box.conn, "2026-03-02")
    assert stats["active_learners"] == 2 and stats["lessons_delivered"] == 3 and stats["lessons_completed"] == 1
    assert stats["quiz_average"] == 66.7 and stats["opt_outs"] == 1
    assert stats["messages_delivered"] >= 3 and stats["messages_sent"] >= stats["messages_delivered"]
    assert _stats(box.conn, "2026-03-02", box.course_id)["lessons_delivered"] == 3
    assert _stats(box.conn, "2026-03-02", cohort="Class A") == {
        "lessons_completed": 1,
        "quiz_average": 66.7,
        "active_learners": 2,
    }
    before = box.conn.execute("SELECT COUNT(*) FROM daily_stats").fetchone()[0]
    roll_up(box.conn, date(2026, 3, 2), "Africa/Nairobi")
    assert box.conn.execute("SELECT COUNT(*) FROM daily_stats").fetchone()[0] == before


def test_it_counts_a_dst_day_as_23_hours():
    start, end = day_bounds(date(2026, 3, 8), "America/New_York")
    assert (start, end) == ("2026-03-08T05:00:00+00:00", "2026-03-09T04:00:00+00:00")


def test_it_does_the_nightly_work_once_in_the_maintenance_window():
    from datetime import datetime

    at = lambda s: datetime.fromisoformat(s)  # noqa: E731
    assert nightly_due(at("2026-03-02T23:29:00+00:00"), "Africa/Nairobi", "02:30", None) is None  # 02:29 local
    assert nightly_due(at("2026-03-02T23:31:00+00:00"), "Africa/Nairobi", "02:30", None) == "2026-03-03"
    assert nightly_due(at("2026-03-02T23:46:00+00:00"), "Africa/Nairobi", "02:30", "2026-03-03") is None
    assert nightly_due(at("2026-03-03T03:00:00+00:00"), "Africa/Nairobi", "02:30", None) is None  # window over


def test_it_backs_up_nightly_keeping_n_and_prunes(box, settings):
    settings = settings.replace(schedule={"backups_keep": 2})
    services = SimpleNamespace(settings=settings, cache=box.coach.cache, coach=None)
    box.conn.execute("INSERT INTO admins (email, role, created_at) VALUES ('a@b.c', 'owner', '2026-01-01')")
    box.conn.execute("""INSERT INTO admin_sessions (id_hash, admin_id, csrf_token, created_at, last_seen_at, expires_at)
                        VALUES ('x', 1, 't', '2026-01-01', '2026-01-01', '2026-01-02T00:00:00+00:00')""")
    learner = box.learner()
    box.conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, kind, status, created_at, updated_at)
                        VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', 'lesson', 'waiting', '2026-02-01', '2026-02-01')""",
        (learner,),
    )
    clock = FakeClock("2026-03-01T23:35:00+00:00")  # 02:35 Nairobi, Monday 2 March
    for _night in range(3):
        report = run_nightly(box.conn, services, clock.now())
        assert not report.idle and "backup" in report.summary()
        assert run_nightly(box.conn, services, clock.now()).idle  # once a night
        clock.advance(days=1)
    assert len(list((settings.data_dir / "backups").glob("coachbox-backup-*.tar.gz"))) == 2
    assert box.conn.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0] == 0
    assert box.conn.execute("SELECT status FROM messages WHERE kind = 'lesson'").fetchone()[0] == "cancelled"
    assert box.conn.execute("SELECT COUNT(*) FROM daily_stats WHERE date = '2026-03-02'").fetchone()[0] > 0


def test_the_nightly_backup_is_encrypted_to_the_backup_recipients(box, settings):
    public = str(x25519.Identity.generate().to_public())
    settings = settings.replace(backup={"recipients": public}, schedule={"backups_keep": 2})
    services = SimpleNamespace(settings=settings, cache=box.coach.cache, coach=None)
    report = run_nightly(box.conn, services, FakeClock("2026-03-01T23:35:00+00:00").now())
    assert ".tar.gz.age" in report.summary()
    (written,) = (settings.data_dir / "backups").glob("coachbox-backup-*")
    assert written.name.endswith(".tar.gz.age") and written.read_bytes().startswith(b"age-encryption.org/v1\n")


# -- message retention ([schedule] message_retention_days) ------------------------------------------------------

NIGHT = "2026-03-09T23:35:00+00:00"  # 02:35 Nairobi on Tuesday 10 March: the maintenance window
OLD, RECENT = "2026-01-05T09:00:00+00:00", "2026-03-08T09:00:00+00:00"


def _message(
    conn,
    learner_id,
    *,
    direction="in",
    status="received",
    body="my PIN is 4321",
    media=(),
    created_at=OLD,
    updated_at=None,
    variables=None,
    key=None,
):
    return conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, content_variables,
                                 idempotency_key, status, created_at, updated_at)
           VALUES (?, ?, 'whatsapp', 'whatsapp:+254700000001', ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            learner_id,
            direction,
            body,
            json.dumps(list(media)),
            "inbound" if direction == "in" else "reply",
            variables,
            key,
            status,
            created_at,
            updated_at or created_at,
        ),
    ).lastrowid


def _exchange(conn, learner_id, *, status="answered", created_at=OLD):
    return conn.execute(
        """INSERT INTO tutor_exchanges (learner_id, question_key, question, status, answer, created_at)
           VALUES (?, ?, 'Is my PIN 4321 safe?', ?, ?, ?)""",
        (
            learner_id,
            f"q{created_at}{status}",
            status,
            "Never share your PIN." if status == "answered" else None,
            created_at,
        ),
    ).lastrowid


def _row(conn, table, row_id):
    return dict(conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone())


def _file(settings, relative):
    path = settings.data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"photo")
    return path


def _services(box, settings, days):
    return SimpleNamespace(
        settings=settings.replace(schedule={"message_retention_days": days, "backups_keep": 0}),
        cache=box.coach.cache,
        coach=None,
    )


def test_it_redacts_old_final_messages_and_keeps_the_rows(box, settings):
    services = _services(box, settings, 30)
    learner = box.learner()
    photo = _file(settings, "media/inbound/SM1-0.jpg")
    inbound = _message(
        box.conn,
        learner,
        key="whatsapp:SM1",
        media=[{"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg", "path": "media/inbound/SM1-0.jpg"}],
    )
    finals = {
        status: _message(
            box.conn, learner, direction="out", status=status, variables='{"1": "Amina"}', key=f"out:{status}"
        )
        for status in ("sent", "delivered", "read", "failed", "undelivered", "cancelled")
    }
    exchange = _exchange(box.conn, learner)
    before = _row(box.conn, "messages", inbound)

    report = run_nightly(box.conn, services, FakeClock(NIGHT).now())

    assert (
        "redacted (older than 30 days) 7 messages, 1 tutor exchanges, 0 quiz answers, 1 media files" in report.summary()
    )
    row = _row(box.conn, "messages", inbound)
    assert (row["body"], row["media"], row["redacted_at"]) == ("", "[]", NIGHT)
    # The row itself stays: de-duplication of a late webhook retry, statistics, the learner's turn history.
    assert {k: v for k, v in row.items() if k not in ("body", "media", "redacted_at")} == {
        k: v for k, v in before.items() if k not in ("body", "media", "redacted_at")
    }
    assert not photo.exists()
    for status, message_id in finals.items():
        row = _row(box.conn, "messages", message_id)
        assert (row["body"], row["content_variables"], row["status"]) == ("", None, status)
        assert row["idempotency_key"] == f"out:{status}"
    assert box.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 7
    asked = _row(box.conn, "tutor_exchanges", exchange)
    assert (asked["question"], asked["answer"], asked["status"]) == ("", "", "answered")


def test_it_keeps_recent_messages_and_anything_that_may_still_be_sent(box, settings):
    learner = box.learner()
    recent = _message(box.conn, learner, created_at=RECENT)
    pending = {
        status: _message(box.conn, learner, direction="out", status=status, variables='{"1": "Amina"}')
        for status in ("queued", "sending", "retry", "waiting")
    }
    # Old, but a status callback moved it yesterday: it waits until it has been still that long too.
    moved = _message(box.conn, learner, direction="out", status="failed", updated_at=RECENT)
    open_question = _exchange(box.conn, learner, status="pending")
    fresh_question = _exchange(box.conn, learner, created_at=RECENT)
    snapshot = {i: _row(box.conn, "messages", i) for i in (recent, moved, *pending.values())}

    counts = redact_old_messages(box.conn, _services(box, settings, 30).settings, FakeClock(NIGHT).now())

    assert counts == {"messages": 0, "tutor exchanges": 0, "quiz answers": 0, "media files": 0}
    assert {i: _row(box.conn, "messages", i) for i in snapshot} == snapshot
    assert _row(box.conn, "tutor_exchanges", open_question)["question"] == "Is my PIN 4321 safe?"
    assert _row(box.conn, "tutor_exchanges", fresh_question)["answer"] == "Never share your PIN."


def test_it_never_redacts_the_days_the_roll_ups_still_count(box, settings):
    learner = box.learner()
    yesterday = _message(box.conn, learner, body="STOP", created_at="2026-03-08T22:00:00+00:00")  # 9 March, local
    day_before = _message(box.conn, learner, body="STOP", created_at="2026-03-07T22:00:00+00:00")  # 8 March, local
    older = _message(box.conn, learner, body="STOP", created_at="2026-03-07T20:00:00+00:00")  # 7 March, 23:00 local

    counts = redact_old_messages(box.conn, _services(box, settings, 1).settings, FakeClock(NIGHT).now())

    assert counts["messages"] == 1  # a 1-day setting still keeps yesterday and the day before (opt-out counts)
    assert [_row(box.conn, "messages", i)["body"] for i in (yesterday, day_before, older)] == ["STOP", "STOP", ""]


def test_it_removes_only_files_inside_the_inbound_media_folder(box, settings, tmp_path):
    learner = box.learner()
    inside = _file(settings, "media/inbound/SM2-0.ogg")
    certificate = _file(settings, "certificates/ABC.pdf")
    lesson_media = _file(settings, "media/lessons/pin.jpg")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not ours")
    paths = [
        "media/inbound/SM2-0.ogg",
        "certificates/ABC.pdf",
        "media/inbound/../lessons/pin.jpg",
        str(outside),
        "media/inbound",
        "media/inbound/never-downloaded.jpg",
    ]
    _message(box.conn, learner, media=[{"url": "u", "content_type": "audio/ogg", "path": p} for p in paths])
    _message(box.conn, learner, direction="out", status="delivered", media=[{"path": "media/lessons/pin.jpg"}])

    counts = redact_old_messages(box.conn, _services(box, settings, 30).settings, FakeClock(NIGHT).now())

    assert counts["media files"] == 1 and not inside.exists()
    assert certificate.exists() and lesson_media.exists() and outside.exists()
    assert (settings.data_dir / "media" / "inbound").is_dir()


def test_it_changes_nothing_on_a_second_run(box, settings):
    services = _services(box, settings, 30)
    learner = box.learner()
    _file(settings, "media/inbound/SM3-0.jpg")
    _message(box.conn, learner, media=[{"url": "u", "content_type": "image/jpeg", "path": "media/inbound/SM3-0.jpg"}])
    _message(box.conn, learner, direction="out", status="delivered")
    _exchange(box.conn, learner)
    clock = FakeClock(NIGHT)
    first = redact_old_messages(box.conn, services.settings, clock.now())
    snapshot = box.conn.execute("SELECT * FROM messages ORDER BY id").fetchall()
    questions = box.conn.execute("SELECT * FROM tutor_exchanges ORDER BY id").fetchall()

    clock.advance(days=1)
    second = redact_old_messages(box.conn, services.settings, clock.now())

    assert first == {"messages": 2, "tutor exchanges": 1, "quiz answers": 0, "media files": 1}
    assert second == {"messages": 0, "tutor exchanges": 0, "quiz answers": 0, "media files": 0}
    assert [tuple(r) for r in box.conn.execute("SELECT * FROM messages ORDER BY id")] == [tuple(r) for r in snapshot]
    assert [tuple(r) for r in box.conn.execute("SELECT * FROM tutor_exchanges ORDER BY id")] == [
        tuple(r) for r in questions
    ]


def test_it_keeps_every_message_when_retention_is_0(box, settings):
    services = _services(box, settings, 0)
    learner = box.learner()
    photo = _file(settings, "media/inbound/SM4-0.jpg")
    message = _message(
        box.conn, learner, media=[{"url": "u", "content_type": "image/jpeg", "path": "media/inbound/SM4-0.jpg"}]
    )
    exchange = _exchange(box.conn, learner)

    report = run_nightly(box.conn, services, FakeClock(NIGHT).now())

    assert not report.idle and "redacted" not in report.summary()
    assert redact_old_messages(box.conn, services.settings, FakeClock(NIGHT).now()) is None
    assert _row(box.conn, "messages", message)["body"] == "my PIN is 4321" and photo.exists()
    assert _row(box.conn, "tutor_exchanges", exchange)["question"] == "Is my PIN 4321 safe?"


def test_it_redacts_in_batches_of_short_write_transactions(box, settings):
    learner = box.learner()
    total = 2 * REDACT_BATCH + 5
    box.conn.executemany(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, created_at, updated_at)
           VALUES (?, 'in', 'whatsapp', 'whatsapp:+254700000001', ?, 'inbound', 'received', ?, ?)""",
        [(learner, f"message {n}", OLD, OLD) for n in range(total)],
    )
    recent = _message(box.conn, learner, created_at=RECENT)
    writes = []
    box.conn.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("BEGIN IMMEDIATE") else None)
    try:
        counts = redact_old_messages(box.conn, _services(box, settings, 30).settings, FakeClock(NIGHT).now())
    finally:
        box.conn.set_trace_callback(None)

    assert counts["messages"] == total
    assert len(writes) == 3  # 2,000 + 2,000 + 5 rows, each batch in its own transaction (no tutor exchanges)
    assert box.conn.execute("SELECT COUNT(*) FROM messages WHERE body != ''").fetchone()[0] == 1
    assert _row(box.conn, "messages", recent)["redacted_at"] is None


@pytest.mark.anyio
async def test_it_shows_a_redacted_message_as_a_note_in_the_admin_transcript(app, services, conn, cast):
    from sanic_testing.testing import SanicASGITestClient

    from tests.admin.conftest import signed_in

    services.settings = services.settings.replace(schedule={"message_retention_days": 30})
    learner = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, created_at, updated_at)
                              VALUES ('whatsapp:+254700000009', 'whatsapp', '+254700000009', 'Amina', ?, ?)""",
        (OLD, OLD),
    ).lastrowid
    _message(conn, learner, body="my PIN is 4321")
    _message(conn, learner, body="<b>still here</b>", created_at=RECENT)
    redact_old_messages(conn, services.settings, FakeClock(NIGHT).now())
    client = SanicASGITestClient(app)
    await signed_in(client, "charlie@school.test")

    _, page = await client.get(f"/admin/learners/{learner}")

    assert "(removed after 30 days)" in page.text and "4321" not in page.text
    assert "&lt;b&gt;still here&lt;/b&gt;" in page.text  # the kept one, escaped as ever


def test_it_blanks_the_words_of_old_quiz_answers_and_keeps_whether_they_were_right(box, settings):
    """A short-answer reply is the learner's own words (someone types their real PIN); right or wrong stays."""
    learner = box.learner()
    question = box.conn.execute("SELECT id FROM questions ORDER BY id LIMIT 1").fetchone()[0]
    insert = "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) VALUES (?, ?, ?, ?, ?)"
    old = box.conn.execute(insert, (learner, question, "my pin 4321", 0, OLD)).lastrowid
    recent = box.conn.execute(insert, (learner, question, "never share it", 1, RECENT)).lastrowid
    counts = redact_old_messages(box.conn, _services(box, settings, 30).settings, FakeClock(NIGHT).now())
    assert counts["quiz answers"] == 1
    rows = {r["id"]: (r["given"], r["correct"]) for r in box.conn.execute("SELECT * FROM answers")}
    assert rows == {old: ("", 0), recent: ("never share it", 1)}
    assert (
        redact_old_messages(box.conn, _services(box, settings, 30).settings, FakeClock(NIGHT).now())["quiz answers"]
        == 0
    )


def test_it_blanks_the_words_of_old_check_in_answers_too(box, settings):
    learner = box.learner()
    course = box.conn.execute("SELECT id FROM courses ORDER BY id LIMIT 1").fetchone()[0]
    insert = """INSERT INTO checkin_answers (learner_id, course_id, phase, position, given, correct, answered_at)
                VALUES (?, ?, ?, 1, ?, ?, ?)"""
    box.conn.execute(insert, (learner, course, "before", "my pin 4321", 0, OLD))
    box.conn.execute(insert, (learner, course, "after", "never share it", 1, RECENT))
    counts = redact_old_messages(box.conn, _services(box, settings, 30).settings, FakeClock(NIGHT).now())
    assert counts["quiz answers"] == 1
    rows = [(r["phase"], r["given"], r["correct"]) for r in box.conn.execute("SELECT * FROM checkin_answers")]
    assert sorted(rows) == [("after", "never share it", 1), ("before", "", 0)]
