"""Broadcasts: due at their time, to the audience only, once each, held to the end of each learner's quiet hours."""

from __future__ import annotations

from datetime import datetime

from coachbox.core.clock import FakeClock
from coachbox.schedule.broadcasts import run_broadcasts
from coachbox.store import broadcasts


def _broadcast(box, audience="all", at="2026-03-02T09:00:00+00:00"):
    return broadcasts.create(
        box.conn,
        body="School is closed on Friday. 🎉",
        audience=audience,
        scheduled_at=datetime.fromisoformat(at),
        created_by=None,
        now=datetime.fromisoformat("2026-03-01T09:00:00+00:00"),
    )


def test_it_sends_a_broadcast_once_to_its_audience_respecting_quiet_hours(box):
    nairobi = box.learner("Africa/Nairobi", cohort="A")  # 12:00 there
    kolkata = box.learner("Asia/Kolkata", cohort="A")  # 14:30
    new_york = box.learner("America/New_York", cohort="A")  # 04:00: quiet until 07:00 (12:00 UTC)
    paused = box.learner(status="paused", cohort="A")
    stopped = box.learner(opted_out=True, cohort="A")
    other = box.learner(cohort="B")
    broadcast = _broadcast(box, "cohort:A")
    clock = FakeClock("2026-03-02T08:59:00+00:00")
    assert run_broadcasts(box.conn, box.coach, clock.now()).idle
    clock.set("2026-03-02T09:00:30+00:00")
    report = run_broadcasts(box.conn, box.coach, clock.now(), batch=2)
    assert (report.started, report.rows, report.held, report.finished) == (1, 3, 1, 1)
    rows = {r["learner_id"]: r for r in box.outbox(kind="broadcast")}
    assert set(rows) == {nairobi, kolkata, new_york}
    assert rows[new_york]["next_attempt_at"] == "2026-03-02T12:00:00+00:00"
    assert rows[nairobi]["next_attempt_at"] == clock.now().isoformat()
    assert rows[nairobi]["template_key"] == "broadcast"
    assert not ({paused, stopped, other} & set(rows))
    assert run_broadcasts(box.conn, box.coach, clock.now()).idle
    assert broadcasts.progress(box.conn, broadcast)["total"] == 3
    assert box.conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast,)).fetchone()[0] == "done"


def test_it_sends_nothing_for_a_cancelled_broadcast(box):
    box.learner()
    broadcast = _broadcast(box)
    broadcasts.cancel(box.conn, broadcast, datetime.fromisoformat("2026-03-02T08:00:00+00:00"))
    run_broadcasts(box.conn, box.coach, FakeClock("2026-03-02T10:00:00+00:00").now())
    assert not box.outbox(kind="broadcast")
