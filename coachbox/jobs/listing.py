"""`coachbox jobs`: every periodic job the worker runs, when, and how its last run went."""

from __future__ import annotations

import json
from typing import Any

from huey.api import PeriodicTask

from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import register
from coachbox.schedule.runs import Job, job_table, schedule_text
from coachbox.schedule.tasks import jobs
from coachbox.store import open_read_only


def all_jobs(settings: Any) -> list[Job]:
    """Every periodic task the worker runs: ours with their descriptions, the rest by name and crontab."""
    huey = create_huey(settings, immediate=True)  # in-memory: listing must not touch the real queue
    register(huey, settings)
    described = {job.name: job for job in jobs(settings)}
    found = []
    for _name, task_class in sorted(huey._registry._registry.items()):
        if not issubclass(task_class, PeriodicTask):
            continue
        short = task_class.__name__  # the name= given to periodic_task (what SIGNAL handlers see as task.name)
        found.append(described.get(short) or Job(short, schedule_text(task_class()), "(another feature's task)"))
    return found


def print_jobs(settings: Any, *, as_json: bool = False) -> int:
    """`coachbox jobs`: every periodic job, when it runs, its last run and outcome."""
    conn = open_read_only(settings.db_path)  # a listing creates nothing, not even the database
    try:
        table = job_table(conn, all_jobs(settings))
    finally:
        conn.close()
    if as_json:
        for row in table:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    for row in table:
        last = (row["last_finished"] or row["last_started"] or "")[:19].replace("T", " ")
        print(f"{row['name']:<20} {row['when']}")
        print(
            f"{'':<20} last run: {last + ' UTC' if last else 'never'} · {row['outcome']}"
            + (f" · {row['detail']}" if row["detail"] else "")
        )
        print(f"{'':<20} {row['what']}")
    return 0
