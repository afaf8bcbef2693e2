"""Follow-up quizzes: quiz_followup_minutes after a lesson, its quiz comes by itself unless the learner started it."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime

from coachbox.conversation.events import QuizFollowUp
from coachbox.learning import timing
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import HOLD_SECONDS, PAUSE_SECONDS
from coachbox.store import schedule as q
from coachbox.store import transaction

KIND = "quiz_followup"


@dataclass
class FollowupReport:
    sent: int = 0
    nothing: int = 0  # the engine found the quiz no longer on offer (answered, moved on)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        return not (self.sent or self.nothing or self.skipped)

    def summary(self) -> str:
        if self.idle:
            return "nothing due"
        parts = [f"{self.sent} quizzes sent", f"{self.nothing} no longer on offer"]
        return ", ".join(parts + [f"{n} skipped ({why})" for why, n in sorted(self.skipped.items())])


def verdict(row: sqlite3.Row, now: datetime, quiet: timing.QuietHours, grace) -> str:
    """send | inactive | late | quiet: pure, over the pending row and its learner."""
    if row["opted_out"] or row["status"] not in ("active", "finished"):
        return "inactive"
    if now - datetime.fromisoformat(row["due_at"]) > grace:
        return "late"
    if quiet.is_quiet(now, row["timezone"]):
        return "quiet"  # the learner can still send QUIZ in the morning
    return "send"


def run_followups(conn: sqlite3.Connection, coach: Coach, now: datetime, *, batch: int = 200) -> FollowupReport:
    """Every pending follow-up that is due, in batched transactions; StartQuiz cancels them in the turn itself."""

    report = FollowupReport()
    quiet, grace = coach.quiet, coach.grace
    while True:
        with transaction(conn):
            rows = q.due_followups(conn, now, batch)
            deadline = time.monotonic() + HOLD_SECONDS
            for row in rows:
                action = verdict(row, now, quiet, grace)
                if action != "send":
                    q.settle(
                        conn,
                        row["learner_id"],
                        KIND,
                        row["key"],
                        "cancelled" if action == "inactive" else f"skipped_{action}",
                    )
                    report.skipped[action] = report.skipped.get(action, 0) + 1
                else:
                    outcome = coach.run_event(conn, row["learner_id"], QuizFollowUp(int(row["key"])), now)
                    # run_event marks the row done; make sure of it even for a learner it no longer finds.
                    q.settle(conn, row["learner_id"], KIND, row["key"], "done")
                    if outcome.outbox_ids:
                        report.sent += 1
                    else:
                        report.nothing += 1
                if time.monotonic() > deadline:
                    break
        if not rows:
            return report
        time.sleep(PAUSE_SECONDS)
