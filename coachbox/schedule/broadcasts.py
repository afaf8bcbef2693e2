"""Broadcasts: an admin's scheduled message to everyone, a course or a cohort, fanned out when it is due.

The admin page writes the broadcasts row (coachbox.store.broadcasts owns the audience rules and the
"broadcast:<id>:<learner_id>" keys); here it becomes one outbox row per reachable learner, in batches, each
held to the end of that learner's quiet hours. The sender paces them by the rate cap and applies the 24-hour
rule (the 'broadcast' template outside it).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime

from coachbox.learning import timing
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import HOLD_SECONDS, PAUSE_SECONDS
from coachbox.store import broadcasts, transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound, hold_new_outbound


@dataclass
class BroadcastReport:
    started: int = 0
    rows: int = 0
    held: int = 0  # rows waiting for the end of their learner's quiet hours
    finished: int = 0

    @property
    def idle(self) -> bool:
        return not (self.started or self.rows or self.finished)

    def summary(self) -> str:
        if self.idle:
            return "no broadcast due"
        return (
            f"{self.started} started, {self.rows} messages queued ({self.held} held for quiet hours), "
            f"{self.finished} finished"
        )


def run_broadcasts(conn: sqlite3.Connection, coach: Coach, now: datetime, *, batch: int = 500) -> BroadcastReport:
    report = BroadcastReport()
    with transaction(conn):
        report.started = conn.execute(
            "UPDATE broadcasts SET status = 'sending' WHERE status = 'scheduled' AND scheduled_at <= ?",
            (now.isoformat(),),
        ).rowcount
    for row in conn.execute("SELECT * FROM broadcasts WHERE status = 'sending' ORDER BY scheduled_at, id").fetchall():
        while True:
            with transaction(conn):
                if conn.execute("SELECT status FROM broadcasts WHERE id = ?", (row["id"],)).fetchone()[0] != "sending":
                    break  # cancelled from the admin page meanwhile
                added, held, more = _batch(conn, coach, row, now, batch)
                if not more:
                    conn.execute(
                        "UPDATE broadcasts SET status = 'done' WHERE id = ? AND status = 'sending'", (row["id"],)
                    )
                    report.finished += 1
            report.rows += added
            report.held += held
            if not more:
                break
            time.sleep(PAUSE_SECONDS)
    return report


def _batch(
    conn: sqlite3.Connection, coach: Coach, broadcast: sqlite3.Row, now: datetime, batch: int
) -> tuple[int, int, bool]:
    """Queue the next learners (by id, after the last one queued): (rows added, rows held, more to do?)."""
    lo, hi = broadcasts._key_range(broadcast["id"])
    last = conn.execute(
        "SELECT COALESCE(MAX(learner_id), 0) FROM messages WHERE idempotency_key >= ? AND idempotency_key < ?", (lo, hi)
    ).fetchone()[0]
    where, args = broadcasts.audience_where(broadcast["audience"])
    learners = conn.execute(
        f"""SELECT l.id, l.channel, l.channel_key, l.timezone, l.name, l.profile_name FROM learners l
            WHERE {where} AND l.id > ? ORDER BY l.id LIMIT ?""",
        (*args, last, batch),
    ).fetchall()
    quiet = coach.quiet
    scheduled = max(now, datetime.fromisoformat(broadcast["scheduled_at"]))
    stamp = now.isoformat()
    added = held = 0
    deadline = time.monotonic() + HOLD_SECONDS
    for learner in learners:
        draft = OutboxDraft(
            broadcast["body"],
            kind="broadcast",
            idempotency_key=f"{lo}{learner['id']}",
            template_key=broadcast["template_key"] or broadcasts.TEMPLATE_KEY,
            content_variables={"1": coach.settings.org.name, "2": broadcast["body"]},
            proactive=True,
        )
        message_id = enqueue_outbound(
            conn,
            learner_id=learner["id"],
            channel=learner["channel"],
            address=learner["channel_key"],
            draft=draft,
            now=now,
        )
        if message_id is None:
            continue
        added += 1
        allowed = quiet.next_allowed(scheduled, learner["timezone"])
        if allowed > now:
            # Held, not dropped, and marked as the sender marks what it holds (the admin says "held until …"):
            # the sender claims only rows whose next_attempt_at has come.
            local = allowed.astimezone(timing.zone(learner["timezone"] or "UTC"))
            reason = f"held for the learner's quiet hours until {local:%H:%M} local time"
            hold_new_outbound(
                conn, message_id, learner["id"], draft.idempotency_key or "", allowed.isoformat(), reason, stamp
            )
            held += 1
        if time.monotonic() > deadline:
            return added, held, True
    return added, held, len(learners) == batch
