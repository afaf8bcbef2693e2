"""Running a scheduled job with a record of it in job_runs, and the list of jobs `coachbox jobs` shows."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from huey.api import PeriodicTask
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_EXECUTING

from coachbox.core.services import Services
from coachbox.store import schedule as q
from coachbox.store import transaction

log = logging.getLogger("coachbox.schedule")


@dataclass(frozen=True)
class Job:
    name: str
    when: str  # for people: "every minute", "nightly at 02:30 (Africa/Nairobi)"
    what: str


def run_job(services: Services, name: str, body: Callable[[sqlite3.Connection, datetime], Any]) -> Any:
    """Run body(conn, now) on the worker's writer connection, recording start, outcome and a summary.

    The body's result may have .summary() and .idle (a report object); idle runs overwrite the previous idle
    row so a once-a-minute job does not fill the table.
    """
    now = services.clock.now()
    run_id = services.db.run_sync(lambda conn: _in_tx(conn, q.start_run, name, now))
    try:
        result = services.db.run_sync(body, now)
    except Exception as exc:
        # (Before: `exc` was never bound here, so a failing job raised NameError and its run stayed "running".)
        error = f"{type(exc).__name__}: {exc}"
        services.db.run_sync(lambda conn: _in_tx(conn, q.finish_run, run_id, "error", error, services.clock.now()))
        log.exception("job failed", extra={"job": name})
        raise
    summary = result.summary() if hasattr(result, "summary") else ("" if result is None else str(result))
    idle = bool(getattr(result, "idle", False))
    services.db.run_sync(
        lambda conn: _in_tx(conn, q.finish_run, run_id, "ok", summary, services.clock.now(), idle=idle)
    )
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
        rows.append(
            {
                "name": job.name,
                "when": job.when,
                "what": job.what,
                "last_started": run["started_at"] if run else None,
                "last_finished": run["finished_at"] if run else None,
                "outcome": run["outcome"] if run else "never run",
                "detail": run["detail"] if run else "",
            }
        )
    return rows


# -- every other feature's periodic tasks, recorded through Huey's signals -------------------------------------------
def record_other_periodic_tasks(huey: Any, context: Any, mine: set[str]) -> None:
    """job_runs rows for periodic tasks that do not record themselves (checkpoint, outbox drain, sweeps…), so
    `coachbox jobs` and the admin page show their last run too. Recording never breaks the task."""

    running: dict[str, int] = {}

    @huey.signal(SIGNAL_EXECUTING, SIGNAL_COMPLETE, SIGNAL_ERROR)
    def _record(signal: str, task: Any, exc: BaseException | None = None) -> None:
        if not isinstance(task, PeriodicTask) or task.name in mine:
            return
        try:
            services = context.get()
            now = services.clock.now()
            if signal == SIGNAL_EXECUTING:
                running[task.id] = services.db.run_sync(lambda conn: _in_tx(conn, q.start_run, task.name, now))
                return
            run_id = running.pop(task.id, None)
            if run_id is None:
                return
            outcome, detail = ("ok", "") if signal == SIGNAL_COMPLETE else ("error", f"{type(exc).__name__}: {exc}")
            services.db.run_sync(
                lambda conn: _in_tx(conn, q.finish_run, run_id, outcome, detail, now, idle=outcome == "ok")
            )
        except Exception:  # noqa: BLE001
            log.warning("could not record a job run", exc_info=True, extra={"job": task.name})


def schedule_text(task: Any) -> str:
    """A periodic task's crontab in words, found by asking it about each minute of a day (UTC)."""

    start = datetime(2026, 3, 2, tzinfo=UTC).replace(tzinfo=None)  # huey validates naive UTC
    hits = [m for m in range(1440) if task.validate_datetime(start + timedelta(minutes=m))]
    if not hits:
        return "not on Mondays"
    steps = {b - a for a, b in zip(hits, hits[1:])} | ({hits[0] + 1440 - hits[-1]} if len(hits) > 1 else set())
    if len(steps) == 1 and len(hits) > 1:
        step = steps.pop()
        if step % 60 == 0:
            return "every hour" if step == 60 else f"every {step // 60} hours"
        return "every minute" if step == 1 else f"every {step} minutes"
    if len(hits) <= 4:
        return ", ".join(f"{m // 60:02d}:{m % 60:02d} UTC" for m in hits)
    return f"{len(hits)} times a day"
