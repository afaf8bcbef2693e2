"""Roll-ups into daily_stats and the nightly housekeeping: once a night, backups kept to N, pruning."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from coachbox.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from coachbox.schedule.housekeeping import nightly_due, run_nightly
from coachbox.schedule.rollups import day_bounds, roll_up


def _stats(conn, day, course_id=0, cohort=""):
    return {r["metric"]: r["value"] for r in conn.execute(
        "SELECT metric, value FROM daily_stats WHERE date = ? AND course_id = ? AND cohort = ?", (day, course_id, cohort))}


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
    assert roll_up(box.conn, date(2026, 3, 2), "Africa/Nairobi", ("stop",)) > 0
    stats = _stats(box.conn, "2026-03-02")
    assert stats["active_learners"] == 2 and stats["lessons_delivered"] == 3 and stats["lessons_completed"] == 1
    assert stats["quiz_average"] == 66.7 and stats["opt_outs"] == 1
    assert stats["messages_delivered"] >= 3 and stats["messages_sent"] >= stats["messages_delivered"]
    assert _stats(box.conn, "2026-03-02", box.course_id)["lessons_delivered"] == 3
    assert _stats(box.conn, "2026-03-02", cohort="Class A") == {"lessons_completed": 1, "quiz_average": 66.7,
                                                               "active_learners": 2}
    before = box.conn.execute("SELECT COUNT(*) FROM daily_stats").fetchone()[0]
    roll_up(box.conn, date(2026, 3, 2), "Africa/Nairobi", ("stop",))
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
    services = SimpleNamespace(settings=settings, cache=box.coach.cache, extras={})
    box.conn.execute("INSERT INTO admins (email, role, created_at) VALUES ('a@b.c', 'owner', '2026-01-01')")
    box.conn.execute("""INSERT INTO admin_sessions (id_hash, admin_id, csrf_token, created_at, last_seen_at, expires_at)
                        VALUES ('x', 1, 't', '2026-01-01', '2026-01-01', '2026-01-02T00:00:00+00:00')""")
    learner = box.learner()
    box.conn.execute("""INSERT INTO messages (learner_id, direction, channel, address, kind, status, created_at, updated_at)
                        VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', 'lesson', 'waiting', '2026-02-01', '2026-02-01')""",
                     (learner,))
    clock = FakeClock("2026-03-01T23:35:00+00:00")  # 02:35 Nairobi, Monday 2 March
    for night in range(3):
        report = run_nightly(box.conn, services, clock.now())
        assert not report.idle and "backup" in report.summary()
        assert run_nightly(box.conn, services, clock.now()).idle  # once a night
        clock.advance(days=1)
    assert len(list((settings.data_dir / "backups").glob("coachbox-backup-*.tar.gz"))) == 2
    assert box.conn.execute("SELECT COUNT(*) FROM admin_sessions").fetchone()[0] == 0
    assert box.conn.execute("SELECT status FROM messages WHERE kind = 'lesson'").fetchone()[0] == "cancelled"
    assert box.conn.execute("SELECT COUNT(*) FROM daily_stats WHERE date = '2026-03-02'").fetchone()[0] > 0
