"""Daily lessons: local times in four zones, DST, exactly once per local date, grace, quiet hours, skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from coachbox.core.clock import FakeClock
from coachbox.schedule.daily import run_daily_lessons
from tests.store.conftest import kept_totals, recounted_totals

OPEN = "2027-01-01T00:00:00+00:00"  # a last message after every instant these tests use: the window stays open


def run_until(box, clock: FakeClock, until: str, *, step_minutes: int = 5):
    """Move the clock to `until`, scanning every few minutes like the per-minute task would."""
    end = datetime.fromisoformat(until)
    reports = []
    while clock.now() < end:
        clock.advance(minutes=step_minutes)
        reports.append(run_daily_lessons(box.conn, box.coach, clock.now()))
    return reports


def sent_at(box, learner_id):
    """UTC times (HH:MM) at which this learner's lessons were written to the outbox."""
    return [
        r["created_at"][:16]
        for r in box.outbox(learner_id)
        if (r["idempotency_key"] or "").startswith("daily_lesson:") and r["idempotency_key"].endswith(":out:0")
    ]


@pytest.mark.parametrize(
    "tz, utc",
    [
        ("Africa/Nairobi", "2026-03-02T04:00"),  # UTC+3
        ("Africa/Lagos", "2026-03-02T06:00"),  # UTC+1
        ("Asia/Kolkata", "2026-03-02T01:30"),  # UTC+5:30
        ("America/New_York", "2026-03-02T12:00"),  # UTC-5 in winter
    ],
)
def test_it_sends_the_lesson_at_seven_local_time_in_each_zone(box, tz, utc):
    learner = box.learner(tz, "07:00", last_inbound_at="2026-03-02T00:00:00+00:00")  # their window open all day
    clock = FakeClock("2026-03-01T18:00:00+00:00")
    run_until(box, clock, "2026-03-02T18:00:00+00:00", step_minutes=1)
    assert box.lessons_sent(learner) == ["2026-03-02"]
    assert sent_at(box, learner)[0] == utc
    kinds = [r["kind"] for r in box.outbox(learner)]
    assert "lesson" in kinds


def test_it_sends_exactly_once_per_local_date_however_often_it_scans(box):
    # They write every day (their window stays open): a silent learner's back-off holds some days' lessons quietly.
    learners = [
        box.learner(tz, last_inbound_at="2026-03-04T12:00:00+00:00")
        for tz in ("Africa/Nairobi", "Africa/Lagos", "Asia/Kolkata", "America/New_York")
    ]
    clock = FakeClock("2026-03-01T00:00:00+00:00")
    run_until(box, clock, "2026-03-05T00:00:00+00:00", step_minutes=7)
    for _ in range(3):  # scans at the same instant again change nothing
        run_daily_lessons(box.conn, box.coach, clock.now())
    for learner in learners:
        days = box.lessons_sent(learner)
        assert len(days) == len(set(days))
        assert "2026-03-02" in days and "2026-03-04" in days
    total = box.conn.execute("SELECT COUNT(*) FROM deliveries WHERE kind = 'daily_lesson'").fetchone()[0]
    assert total == sum(len(box.deliveries(x)) for x in learners)


def test_it_keeps_seven_oclock_across_new_york_dst_changes(box, settings):
    # A learner whose window stays open (a last message in the future): every day's lesson is written at 07:00.
    # (A silent one gets nudges, and none after three unanswered in a row.)
    learner = box.learner("America/New_York", "07:00", last_inbound_at=OPEN)
    clock = FakeClock("2026-03-06T00:00:00+00:00")
    run_until(box, clock, "2026-03-10T00:00:00+00:00", step_minutes=1)
    # EST (UTC-5) until Sunday 8 March 02:00, then EDT (UTC-4): 07:00 local moves from 12:00 to 11:00 UTC.
    assert sent_at(box, learner) == ["2026-03-06T12:00", "2026-03-07T12:00", "2026-03-08T11:00", "2026-03-09T11:00"]
    clock.set("2026-10-30T00:00:00+00:00")
    box.restart_course(learner)
    run_until(box, clock, "2026-11-03T00:00:00+00:00", step_minutes=1)
    assert sent_at(box, learner)[-4:] == [
        "2026-10-30T11:00",
        "2026-10-31T11:00",
        "2026-11-01T12:00",
        "2026-11-02T12:00",
    ]


def test_it_gives_one_lesson_on_dst_days_for_skipped_and_repeated_times(box, settings):
    box.coach.settings = settings.replace(schedule={"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    skipped = box.learner("America/New_York", "02:30", last_inbound_at=OPEN)  # does not exist on 2026-03-08
    repeated = box.learner("America/New_York", "01:30", last_inbound_at=OPEN)  # happens twice on 2026-11-01
    clock = FakeClock("2026-03-07T12:00:00+00:00")
    run_until(box, clock, "2026-03-09T12:00:00+00:00", step_minutes=1)
    # 02:30 EST would be 07:30 UTC: it arrives then, at 03:30 on the new EDT wall clock, once.
    assert sent_at(box, skipped) == ["2026-03-08T07:30", "2026-03-09T06:30"]
    clock.set("2026-10-31T12:00:00+00:00")
    box.restart_course(repeated)
    run_until(box, clock, "2026-11-02T12:00:00+00:00", step_minutes=1)
    assert box.lessons_sent(repeated)[-2:] == ["2026-11-01", "2026-11-02"]
    # The first 01:30 (EDT, 05:30 UTC) only; the second 01:30 (EST, 06:30 UTC) sends nothing.
    assert sent_at(box, repeated)[-2:] == ["2026-11-01T05:30", "2026-11-02T06:30"]


def test_it_sends_nothing_to_paused_opted_out_finished_or_deleted_learners(box):
    quiet = [box.learner(status=s) for s in ("paused", "finished", "deleted", "onboarding")]
    quiet.append(box.learner(opted_out=True))
    clock = FakeClock("2026-03-01T18:00:00+00:00")
    run_until(box, clock, "2026-03-03T18:00:00+00:00", step_minutes=10)
    assert all(not box.outbox(x) and not box.deliveries(x) for x in quiet)


def test_it_resumes_a_paused_learner_from_the_next_lesson_time(box):
    learner = box.learner(status="paused")
    clock = FakeClock("2026-03-02T05:00:00+00:00")  # 08:00 in Nairobi: today's time has passed
    run_daily_lessons(box.conn, box.coach, clock.now())
    box.conn.execute("UPDATE learners SET status = 'active' WHERE id = ?", (learner,))
    run_until(box, clock, "2026-03-03T05:00:00+00:00")
    # 08:00 is within the 2-hour grace of 07:00: resuming then still brings today's lesson, tomorrow's follows.
    assert box.lessons_sent(learner) == ["2026-03-02", "2026-03-03"]


def test_it_sends_lessons_late_within_grace_and_skips_older_ones_after_downtime(box):
    on_time = box.learner("Africa/Nairobi", "07:00")  # due 04:00 UTC
    late = box.learner("Africa/Nairobi", "05:30")  # held to 07:00 by quiet hours: also due 04:00 UTC
    older = box.learner("Asia/Kolkata", "07:00")  # due 01:30 UTC
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    clock.set("2026-03-02T05:45:00+00:00")  # the worker was down from 00:00 to 05:45 UTC
    report = run_daily_lessons(box.conn, box.coach, clock.now())
    assert report.sent == 2 and report.skipped == {"late": 1}
    assert box.lessons_sent(on_time) == ["2026-03-02"] and box.lessons_sent(late) == ["2026-03-02"]
    assert [(d["key"], d["status"]) for d in box.deliveries(older)] == [("2026-03-02", "skipped_late")]
    assert not box.outbox(older)
    run_until(box, clock, "2026-03-03T06:00:00+00:00")
    assert box.lessons_sent(older) == ["2026-03-03"]


def test_it_never_sends_a_lesson_in_quiet_hours(box):
    night_owl = box.learner("Africa/Lagos", "22:30")  # asked for 22:30: held to 07:00
    evening = box.learner("Africa/Lagos", "20:30")
    clock = FakeClock("2026-03-02T12:00:00+00:00")
    run_until(box, clock, "2026-03-03T12:00:00+00:00", step_minutes=1)
    assert sent_at(box, night_owl) == ["2026-03-03T06:00"]  # 07:00 Lagos
    assert sent_at(box, evening) == ["2026-03-02T19:30"]
    # Down from 19:00 to 20:15 UTC (21:15 Lagos): within grace, but quiet hours have begun: skipped, recorded.
    clock.set("2026-03-03T19:00:00+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    clock.set("2026-03-03T20:15:00+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    assert box.deliveries(evening)[-1]["status"] == "skipped_quiet"
    for row in box.outbox():
        local = datetime.fromisoformat(row["created_at"]).astimezone(timezone(timedelta(hours=1)))
        assert 7 <= local.hour < 21


def test_it_moves_the_lesson_when_the_learner_changes_the_time(box):
    learner = box.learner("Africa/Nairobi", "07:00")
    clock = FakeClock("2026-03-02T02:00:00+00:00")  # 05:00 Nairobi
    run_daily_lessons(box.conn, box.coach, clock.now())
    box.conn.execute("UPDATE learners SET lesson_time = '09:15' WHERE id = ?", (learner,))
    run_until(box, clock, "2026-03-02T06:00:00+00:00", step_minutes=1)
    assert sent_at(box, learner) == []  # nothing at 07:00 any more
    run_until(box, clock, "2026-03-02T07:00:00+00:00", step_minutes=1)
    assert sent_at(box, learner) == ["2026-03-02T06:15"]
    # Moving it again the same day does not bring a second lesson that day.
    box.conn.execute("UPDATE learners SET lesson_time = '10:30' WHERE id = ?", (learner,))
    run_until(box, clock, "2026-03-02T09:00:00+00:00", step_minutes=1)
    assert box.lessons_sent(learner) == ["2026-03-02"]


def test_it_leaves_the_24_hour_window_to_the_sender_with_the_lesson_nudge_template(box):
    silent = box.learner(last_inbound_at="2026-02-20T10:00:00+00:00")
    clock = FakeClock("2026-03-02T03:59:00+00:00")
    run_until(box, clock, "2026-03-02T04:01:00+00:00", step_minutes=1)
    first = box.outbox(silent)[0]
    assert first["template_key"] == "lesson_nudge" and first["status"] == "queued"


def test_it_finds_nobody_due_with_an_index_range_scan(box):
    from coachbox.store import schedule

    statements: list[str] = []
    box.conn.set_trace_callback(statements.append)
    schedule.due_learners(box.conn, datetime(2026, 3, 2, tzinfo=UTC), 500)
    box.conn.set_trace_callback(None)
    plan = box.conn.execute("EXPLAIN QUERY PLAN " + statements[0]).fetchall()
    detail = " ".join(r["detail"] for r in plan)
    assert "USING INDEX schedule_learners_next_lesson (next_lesson_at<?)" in detail and "TEMP B-TREE" not in detail


def test_it_sends_no_daily_lesson_on_top_of_the_first_lesson_after_onboarding(box):
    learner = box.learner(status="onboarding")
    clock = FakeClock("2026-03-02T05:00:00+00:00")  # 08:00 Nairobi: within grace of 07:00
    box.conn.execute(
        "INSERT INTO progress (learner_id, lesson_id, delivered_at) VALUES (?, (SELECT MIN(id) FROM lessons), ?)",
        (learner, clock.now().isoformat()),
    )
    box.conn.execute("UPDATE learners SET status = 'active' WHERE id = ?", (learner,))  # onboarding ends
    run_until(box, clock, "2026-03-03T05:00:00+00:00")
    assert box.lessons_sent(learner) == ["2026-03-03"]


def test_it_survives_a_hand_edited_lesson_time(box):
    broken = box.learner(lesson_time="seven")
    fine = box.learner()
    clock = FakeClock("2026-03-02T03:00:00+00:00")
    run_until(box, clock, "2026-03-02T04:10:00+00:00")
    assert box.lessons_sent(fine) == ["2026-03-02"] and box.lessons_sent(broken) == ["2026-03-02"]


def test_it_counts_every_lesson_in_the_costs_under_its_learners_class_and_course(box):
    form2, classless = box.learner(cohort="Form 2", last_inbound_at=OPEN), box.learner(last_inbound_at=OPEN)
    clock = FakeClock("2026-03-01T03:00:00+00:00")  # Sunday's lesson comes with the week's summary
    run_until(box, clock, "2026-03-01T04:10:00+00:00")
    box.say(form2, "progress", clock.now())
    run_until(box, clock, "2026-03-02T04:10:00+00:00")
    rows = box.conn.execute("SELECT learner_id, kind, cost_class, cost_course_id FROM messages").fetchall()
    assert {r["kind"] for r in rows} >= {"lesson", "inbound", "summary"}
    assert {(r["learner_id"], r["cost_class"], r["cost_course_id"]) for r in rows} == {
        (form2, "Form 2", box.course_id),
        (classless, "", box.course_id),
    }
    assert kept_totals(box.conn) == recounted_totals(box.conn)
