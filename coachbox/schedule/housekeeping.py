"""Nightly housekeeping at the maintenance time: roll-ups, backup keeping N, pruning, and a weekly optimize."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from coachbox.schedule import rollups, timing
from coachbox.store import schedule as q
from coachbox.store import transaction

log = logging.getLogger("coachbox.schedule.housekeeping")

STATE_KEY = "schedule.nightly_done"  # box_state: the org-local date the nightly work last completed
WINDOW = timedelta(hours=3)  # the nightly work may start up to 3 h after maintenance_time (worker was down)
JOB_RUNS_KEEP = timedelta(days=30)
WAITING_EXPIRE = timedelta(days=7)  # 'waiting' rows can only be released within 24 h of creation anyway


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
        conn.execute("""INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?)
                        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
                     (STATE_KEY, value, now.isoformat()))


def prune(conn: sqlite3.Connection, now: datetime) -> dict[str, int]:
    """Old rows nobody needs: expired admin sessions, old job runs, outbox rows that can never leave."""
    with transaction(conn):
        sessions = conn.execute("DELETE FROM admin_sessions WHERE expires_at < ?", (now.isoformat(),)).rowcount
        runs = q.prune_runs(conn, now - JOB_RUNS_KEEP)
        expired = conn.execute(
            """UPDATE messages SET status = 'cancelled', updated_at = ?,
                      error_message = 'expired: waited a week for the learner to open the 24-hour window'
               WHERE direction = 'out' AND status = 'waiting' AND created_at < ?""",
            (now.isoformat(), (now - WAITING_EXPIRE).isoformat())).rowcount
    return {"admin sessions": sessions, "job runs": runs, "expired waiting messages": expired}


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


def run_nightly(conn: sqlite3.Connection, services: Any, now: datetime, *,
                backup: Callable[[], str] | None = None) -> NightlyReport:
    """Everything nightly, once per org-local date, in the maintenance window. Each step is safe to repeat,
    so a crash half-way means the next run (15 minutes later) does it all again."""
    settings = services.settings
    tz = settings.org.default_timezone
    day = nightly_due(now, tz, settings.schedule.maintenance_time, _get_state(conn))
    report = NightlyReport(day)
    if day is None:
        return report
    stop_words = tuple(w.lower() for w in _stop_words(services))
    report.done.append("roll-ups " + ", ".join(rollups.roll_up_recent(conn, now, tz, stop_words)))
    pruned = prune(conn, now)
    report.done.append("pruned " + ", ".join(f"{n} {what}" for what, n in pruned.items()))
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
    from coachbox.backup import backup, prune_backups

    path = backup(settings, None, progress=None)
    removed = prune_backups(settings, settings.schedule.backups_keep)
    return f"backup {path.name} ({len(removed)} old removed, keeping {settings.schedule.backups_keep})"


def _stop_words(services: Any) -> tuple[str, ...]:
    from coachbox.schedule.coach import Coach

    try:
        return Coach.of(services).texts.all_words("stop")
    except Exception:  # noqa: BLE001 - roll-ups must not fail for want of a locale file
        return ("stop",)
