"""`coachbox jobs`: every periodic task with its schedule, last run and outcome, recorded in job_runs."""

from __future__ import annotations

import json

import pytest

from coachbox.cli.main import main
from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import WorkerContext, register
from coachbox.schedule.runs import run_job


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


def test_a_failing_job_is_recorded_as_an_error_and_still_raises(services, conn):
    def broken(conn, now):
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="the disk is full"):
        run_job(services, "nightly_backup", broken)
    row = conn.execute("SELECT name, outcome, detail, finished_at FROM job_runs").fetchone()
    assert (row["name"], row["outcome"], row["detail"]) == ("nightly_backup", "error", "RuntimeError: the disk is full")
    assert row["finished_at"] is not None  # not left "running" forever
