"""`coachbox jobs`: every periodic task with its schedule, last run and outcome, recorded in job_runs."""

from __future__ import annotations

import json

from coachbox.cli.main import main
from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import WorkerContext, register


def test_it_records_runs_of_our_jobs_and_everyone_elses(settings, services, conn):
    huey = create_huey(settings, immediate=True)
    context = WorkerContext(settings, services)
    tasks = register(huey, settings, context)
    tasks.extra["daily_lessons"]()
    tasks.extra["daily_lessons"]()  # an idle run replaces the previous idle row
    tasks.checkpoint()
    rows = conn.execute("SELECT name, outcome, detail FROM job_runs ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("daily_lessons", "ok", "nobody due"), ("checkpoint", "ok", "")]


def test_it_lists_jobs_with_their_schedule_and_last_run(settings, services, conn, monkeypatch, capsys, tmp_path):
    huey = create_huey(settings, immediate=True)
    register(huey, settings, WorkerContext(settings, services)).extra["reminders"]()
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    assert main(["--config", str(settings.root) + "/coachbox.toml", "jobs", "--json"]) == 0
    jobs = {j["name"]: j for j in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {
        "daily_lessons",
        "quiz_followups",
        "reminders",
        "nightly",
        "streaks",
        "review",
        "broadcasts",
        "checkpoint",
        "outbox_drain",
    } <= set(jobs)
    assert jobs["reminders"]["outcome"] == "ok" and jobs["reminders"]["detail"] == "nobody to remind"
    assert jobs["checkpoint"]["when"] == "every 5 minutes" and jobs["daily_lessons"]["outcome"] == "never run"
    assert main(["--config", str(settings.root) + "/coachbox.toml", "jobs"]) == 0
    assert "last run:" in capsys.readouterr().out
