"""Running a scheduled job with a record of it in job_runs, and the list of jobs `coachbox jobs` shows."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from coachbox.store import schedule as q
from coachbox.store import transaction

log = logging.getLogger("coachbox.schedule")


@dataclass(frozen=True)
class Job:
    name: str
    when: str  # for people: "every minute", "nightly at 02:30 (Africa/Nairobi)"
    what: str


def run_job(services: Any, name: str, body: Callable[[sqlite3.Connection, datetime], Any]) -> Any:
    """Run body(conn, now) on the worker's writer connection, recording start, outcome and a summary.

    The body's result may have .summary() and .idle (a report object); idle runs overwrite the previous idle
    row so a once-a-minute job does not fill the table.
    """
    now = services.clock.now()
    run_id = services.db.run_sync(lambda conn: _in_tx(conn, q.start_run, name, now))
    try:
        result = services.db.run_sync(body, now)
    except Exception as exc:
        services.db.run_sync(lambda conn: _in_tx(conn, q.finish_run, run_id, "error", f"{type(exc).__name__}: {exc}",
                                                 services.clock.now()))
        log.exception("job failed", extra={"job": name})
        raise
    summary = result.summary() if hasattr(result, "summary") else ("" if result is None else str(result))
    idle = bool(getattr(result, "idle", False))
    services.db.run_sync(lambda conn: _in_tx(conn, q.finish_run, run_id, "ok", summary, services.clock.now(), idle=idle))
    log.info("job done", extra={"job": name, "summary": summary}) if not idle else None
    return result


def _in_tx(conn: sqlite3.Connection, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    with transaction(conn):
        return fn(conn, *args, **kwargs)


def job_table(conn: sqlite3.Connection, jobs: list[Job]) -> list[dict]:
    """Each scheduled job with its last run (for the CLI and the admin operations page)."""
    latest = q.latest_runs(conn)
    rows = []
    for job in jobs:
        run = latest.get(job.name)
        rows.append({
            "name": job.name, "when": job.when, "what": job.what,
            "last_started": run["started_at"] if run else None, "last_finished": run["finished_at"] if run else None,
            "outcome": run["outcome"] if run else "never run", "detail": run["detail"] if run else "",
        })
    return rows
