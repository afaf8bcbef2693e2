"""Huey tasks of the coach's clock: a few lines each, calling the schedule feature functions."""

from __future__ import annotations

from huey import Huey, crontab

from coachbox.learning.lessondays import parse_lesson_days
from coachbox.schedule import (
    broadcasts,
    daily,
    followup,
    housekeeping,
    reminders,
    streaks,
)
from coachbox.schedule.coach import Coach
from coachbox.schedule.runs import Job, record_other_periodic_tasks, run_job
from coachbox.store import reviews as review


def jobs(settings) -> list[Job]:
    """The periodic jobs, for people (`coachbox jobs`, the admin page)."""
    return [
        Job(
            "daily_lessons",
            "every minute",
            "daily lessons to learners whose local lesson time has come "
            "(on Sundays with the weekly summary first, and due review questions)",
        ),
        Job(
            "quiz_followups",
            "every minute",
            f"a lesson's quiz {settings.learning.quiz_followup_minutes} min after it, unless the learner started it",
        ),
        Job(
            "reminders",
            "every 5 minutes",
            f"one nudge at {settings.schedule.reminder_hour}:00 local to learners who missed today's lesson "
            f"(back-off {settings.schedule.reminder_backoff_days} days when silent)",
        ),
        Job(
            "broadcasts", "every minute", "scheduled broadcasts into the outbox, held to each learner's quiet-hours end"
        ),
        Job("review", "every 10 minutes", "new quiz answers into spaced-repetition (FSRS-6) review items"),
        Job(
            "streaks",
            "every 15 minutes",
            "at each learner's local midnight: a missed day uses a streak freeze or ends the streak",
        ),
        Job(
            "nightly",
            f"every 15 minutes; works once a night at {settings.schedule.maintenance_time} "
            f"({settings.org.default_timezone})",
            f"daily_stats roll-ups, backup keeping {settings.schedule.backups_keep}, pruning, "
            + (
                f"blanking messages older than {settings.schedule.message_retention_days} days, "
                if settings.schedule.message_retention_days
                else ""
            )
            + "weekly optimize (Sundays)",
        ),
    ]


def register(huey: Huey, context) -> dict:
    """Our periodic tasks, each recording its runs in job_runs (plus a recorder for everyone else's)."""

    # The consumer runs in UTC and crontab(minute='*') also fires at start-up: both fine, the truth is in SQLite
    # (next_lesson_at and the deliveries keys), so a run at any moment does exactly what is due then.
    @huey.periodic_task(crontab(minute="*"), name="daily_lessons")
    @huey.lock_task("schedule.daily_lessons")  # a 100k fan-out may outlast a minute: skip, don't pile up
    def daily_lessons():
        services = context.get()
        coach = Coach.of(services)
        run_job(services, "daily_lessons", lambda conn, now: daily.run_daily_lessons(conn, coach, now))

    @huey.periodic_task(crontab(minute="*"), name="quiz_followups")
    @huey.lock_task("schedule.quiz_followups")
    def quiz_followups():
        services = context.get()
        coach = Coach.of(services)
        run_job(services, "quiz_followups", lambda conn, now: followup.run_followups(conn, coach, now))

    @huey.periodic_task(crontab(minute="*/5"), name="reminders")
    @huey.lock_task("schedule.reminders")
    def send_reminders():
        services = context.get()
        coach = Coach.of(services)
        run_job(services, "reminders", lambda conn, now: reminders.run_reminders(conn, coach, now))

    @huey.periodic_task(crontab(minute="*/15"), name="nightly")
    @huey.lock_task("schedule.nightly")
    def nightly():
        services = context.get()
        run_job(services, "nightly", lambda conn, now: housekeeping.run_nightly(conn, services, now))

    @huey.periodic_task(crontab(minute="*/15"), name="streaks")
    @huey.lock_task("schedule.streaks")
    def midnight_streaks():
        services = context.get()
        days = parse_lesson_days(services.settings.schedule.lesson_days)
        run_job(services, "streaks", lambda conn, now: streaks.run_midnight(conn, now, days))

    @huey.periodic_task(crontab(minute="*/10"), name="review")
    @huey.lock_task("schedule.review")
    def review_ingest():
        services = context.get()
        retention = services.settings.learning.desired_retention
        run_job(services, "review", lambda conn, now: review.ingest_answers(conn, now, desired_retention=retention))

    @huey.periodic_task(crontab(minute="*"), name="broadcasts")
    @huey.lock_task("schedule.broadcasts")
    def send_broadcasts():
        services = context.get()
        coach = Coach.of(services)
        run_job(services, "broadcasts", lambda conn, now: broadcasts.run_broadcasts(conn, coach, now))

    record_other_periodic_tasks(huey, context, {job.name for job in jobs(context.settings)})
    return {
        "broadcasts": send_broadcasts,
        "review": review_ingest,
        "streaks": midnight_streaks,
        "daily_lessons": daily_lessons,
        "quiz_followups": quiz_followups,
        "reminders": send_reminders,
        "nightly": nightly,
    }
