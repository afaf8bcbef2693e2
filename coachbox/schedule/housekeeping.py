"""Nightly housekeeping at the maintenance time: roll-ups, backup keeping N, pruning, redaction, weekly optimize."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from coachbox.core.services import Services
from coachbox.learning import timing
from coachbox.ops.backup import backup, prune_backups
from coachbox.schedule import rollups
from coachbox.store import messages, transaction, turn_state
from coachbox.store import schedule as q
from coachbox.turns import exports

log = logging.getLogger("coachbox.schedule.housekeeping")

STATE_KEY = "schedule.nightly_done"  # box_state: the org-local date the nightly work last completed
WINDOW = timedelta(hours=3)  # the nightly work may start up to 3 h after maintenance_time (worker was down)
JOB_RUNS_KEEP = timedelta(days=30)
WAITING_EXPIRE = timedelta(days=7)  # 'waiting' rows can only be released within 24 h of creation anyway
ROLLUP_DAYS = 2  # roll-ups re-count yesterday and the day before: redaction never reaches into those days
REDACT_BATCH = 2_000  # rows per write transaction: a first run on years of messages never holds the lock long
# Only final messages lose their words (store.messages.FINAL_STATUSES): queued, sending, retry and waiting keep them.
INBOUND_MEDIA_DIR = "media/inbound"  # under the data folder, as channels.twilio.media stores learners' files


def nightly_due(now: datetime, tz: str, maintenance_time: str, last_done: str | None) -> str | None:
    """The org-local date to do the nightly work for now, or None (pure)."""
    today = timing.local_day(now, tz)
    start = timing.local_instant(today, timing.hhmm(maintenance_time), tz)
    if not start <= now < start + WINDOW or last_done == today.isoformat():
        return None
    return today.isoformat()


@dataclass
class NightlyReport:
    day: str | None = None
    done: list[str] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return self.day is None

    def summary(self) -> str:
        return "not the maintenance time" if self.idle else f"{self.day}: " + "; ".join(self.done)


def _get_state(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM box_state WHERE key = ?", (STATE_KEY,)).fetchone()
    return row[0] if row else None


def _set_state(conn: sqlite3.Connection, value: str, now: datetime) -> None:
    with transaction(conn):
        conn.execute(
            """INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?)
                        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
            (STATE_KEY, value, now.isoformat()),
        )


def prune(conn: sqlite3.Connection, now: datetime) -> dict[str, int]:
    """Old rows nobody needs: expired admin and learner sessions, spent rate-limit counters, old job runs, outbox
    rows that can never leave."""
    with transaction(conn):
        sessions = conn.execute("DELETE FROM admin_sessions WHERE expires_at < ?", (now.isoformat(),)).rowcount
        runs = q.prune_runs(conn, now - JOB_RUNS_KEEP)
        expired = messages.expire_waiting_outbound(conn, (now - WAITING_EXPIRE).isoformat(), now.isoformat())
        learner_sessions, counters = turn_state.prune(conn, now.timestamp())
    return {
        "admin sessions": sessions,
        "job runs": runs,
        "expired waiting messages": expired,
        "expired learner sessions": learner_sessions,
        "rate-limit counters": counters,
    }


def redaction_cutoff(now: datetime, tz: str, days: int) -> datetime | None:
    """Rows created before this lose their words; None when retention is off (0). Never inside the days the
    roll-ups still re-count: their opt-out count reads the learners' words."""
    if days <= 0:
        return None
    first_counted = timing.local_instant(timing.local_day(now, tz) - timedelta(days=ROLLUP_DAYS), time(0, 0), tz)
    return min(now - timedelta(days=days), first_counted)


_IDS = "(SELECT value FROM json_each(?))"
# As with messages (store.messages.redactable_ids): the unary + keeps the planner walking the rowid range in batches.
_OLD_EXCHANGE = "status IN ('answered', 'failed') AND +created_at < ? AND (question != '' OR answer != '')"
_OLD_EXCHANGES = f"SELECT id FROM tutor_exchanges WHERE id > ? AND {_OLD_EXCHANGE} ORDER BY id LIMIT ?"
_OLD_ANSWERS = "SELECT id FROM answers WHERE id > ? AND +answered_at < ? AND given != '' ORDER BY id LIMIT ?"
_OLD_CHECKINS = "SELECT id FROM checkin_answers WHERE id > ? AND answered_at < ? AND given != '' ORDER BY id LIMIT ?"


def redact_old_messages(conn: sqlite3.Connection, settings: Any, now: datetime) -> dict[str, int] | None:
    """Blank the words and media of final messages (and finished tutor exchanges, quiz and check-in answers' text) older than
    [schedule] message_retention_days, in batches; the rows stay. None when retention is off. Idempotent."""
    cutoff = redaction_cutoff(now, settings.org.default_timezone, settings.schedule.message_retention_days)
    if cutoff is None:
        return None
    before, stamp = cutoff.astimezone(UTC).isoformat(), now.isoformat()
    counts = {"messages": 0, "tutor exchanges": 0, "quiz answers": 0, "media files": 0}
    for ids in _batches(lambda after: messages.redactable_ids(conn, after, before, REDACT_BATCH)):
        with transaction(conn):  # the same conditions again: a row may have moved since it was read
            files = messages.redactable_media_paths(conn, ids, before)
            counts["messages"] += messages.redact(conn, ids, before, stamp)
        counts["media files"] += _remove_inbound_media(settings, files)  # committed: the rows no longer name them
    for ids in _batches(lambda after: _ids(conn, _OLD_EXCHANGES, (after, before, REDACT_BATCH))):
        # The question is the learner's words; the answer often quotes it. Pending ones are still to be answered.
        with transaction(conn):
            counts["tutor exchanges"] += conn.execute(
                f"""UPDATE tutor_exchanges SET question = '', answer = CASE WHEN answer IS NULL THEN NULL ELSE '' END
                    WHERE id IN {_IDS} AND {_OLD_EXCHANGE}""",
                (json.dumps(ids), before),
            ).rowcount
    for ids in _batches(lambda after: _ids(conn, _OLD_ANSWERS, (after, before, REDACT_BATCH))):
        # A short-answer quiz reply is the learner's own words too (someone will type their real PIN); whether it
        # was right stays, and so do scores, reviews and badges built from it.
        with transaction(conn):
            counts["quiz answers"] += conn.execute(
                f"UPDATE answers SET given = '' WHERE id IN {_IDS} AND answered_at < ? AND given != ''",
                (json.dumps(ids), before),
            ).rowcount
    for ids in _batches(lambda after: _ids(conn, _OLD_CHECKINS, (after, before, REDACT_BATCH))):
        with transaction(conn):  # check-in answers are typed the same way; counted with the quiz answers
            counts["quiz answers"] += conn.execute(
                f"UPDATE checkin_answers SET given = '' WHERE id IN {_IDS} AND answered_at < ? AND given != ''",
                (json.dumps(ids), before),
            ).rowcount
    return counts


def _batches(find: Callable[[int], list[int]]) -> Iterator[list[int]]:
    """The ids `find(after)` returns (REDACT_BATCH at a time, in id order) until there are none; each read is done
    before its write transaction."""
    after = 0
    while ids := find(after):
        yield ids
        after = ids[-1]


def _ids(conn: sqlite3.Connection, sql: str, args: tuple) -> list[int]:
    return [row[0] for row in conn.execute(sql, args)]


def _remove_inbound_media(settings: Any, paths: list[str]) -> int:
    """Delete files the redacted rows named, only inside data/media/inbound (resolved, so no .. or link leads out)."""
    inbound = (settings.data_dir / INBOUND_MEDIA_DIR).resolve()
    removed = 0
    for relative in paths:
        path = (settings.data_dir / relative).resolve()
        if not path.is_relative_to(inbound) or path == inbound:
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass  # never downloaded, or removed by hand: nothing left to keep
        except OSError:  # the rows are committed; a stuck file is for the operator, the next night will not see it
            log.warning("could not remove a redacted message's file", extra={"path": relative})
    return removed


def optimize(conn: sqlite3.Connection) -> str:
    """Weekly: fresh planner statistics; VACUUM only when a quarter of the file is free pages (it locks writes)."""
    conn.execute("PRAGMA optimize")
    conn.execute("ANALYZE")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if pages and free / pages > 0.25:
        conn.execute("VACUUM")
        return f"optimized, vacuumed ({free} of {pages} pages were free)"
    return "optimized"


def run_nightly(
    conn: sqlite3.Connection, services: Services, now: datetime, *, backup: Callable[[], str] | None = None
) -> NightlyReport:
    """Everything nightly, once per org-local date, in the maintenance window. Each step is safe to repeat,
    so a crash half-way means the next run (15 minutes later) does it all again."""
    settings = services.settings
    tz = settings.org.default_timezone
    day = nightly_due(now, tz, settings.schedule.maintenance_time, _get_state(conn))
    report = NightlyReport(day)
    if day is None:
        return report
    report.done.append("roll-ups " + ", ".join(rollups.roll_up_recent(conn, now, tz, days=ROLLUP_DAYS)))
    pruned = prune(conn, now)
    pruned["expired data exports"] = exports.prune(settings.data_dir, now)  # MYDATA files past their link's expiry
    report.done.append("pruned " + ", ".join(f"{n} {what}" for what, n in pruned.items()))
    redacted = redact_old_messages(conn, settings, now)  # after prune: the week-old 'waiting' rows it just cancelled
    if redacted is not None:
        report.done.append(
            f"redacted (older than {settings.schedule.message_retention_days} days) "
            + ", ".join(f"{n} {what}" for what, n in redacted.items())
        )
    cache = getattr(services, "cache", None)
    if cache is not None:
        # Expired entries (sessions, rate-limit windows past their TTL), then the size limit: writes do not cull.
        report.done.append(f"{cache.cull()} expired cache entries")
    if timing.local_day(now, tz).weekday() == 6:
        report.done.append(optimize(conn))
    if settings.schedule.backups_keep > 0:
        report.done.append((backup or (lambda: _backup(settings)))())
    _set_state(conn, day, now)
    return report


def _backup(settings: Any) -> str:
    path = backup(settings, None, progress=None)
    removed = prune_backups(settings, settings.schedule.backups_keep)
    return f"backup {path.name} ({len(removed)} old removed, keeping {settings.schedule.backups_keep})"
