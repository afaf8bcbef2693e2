"""Huey tasks: a few lines each, calling feature functions with the worker's own Services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from huey import Huey, crontab

from coachbox.certificates import tasks as certificate_tasks
from coachbox.channels import tasks as channel_tasks
from coachbox.core import events
from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.jobs import heartbeat
from coachbox.payments import tasks as payment_tasks
from coachbox.schedule import inbox_notify
from coachbox.schedule import tasks as schedule_tasks
from coachbox.store import checkpoint as truncate_checkpoint
from coachbox.store import open_database
from coachbox.turns import tasks as voice_tasks
from coachbox.tutor import tasks as tutor_tasks

log = logging.getLogger("coachbox.jobs")


@dataclass
class WorkerContext:
    """Resources of one worker process, opened at consumer start-up (never at import)."""

    settings: Settings
    services: Services | None = None
    # The composition root's builder (coachbox.roots.services.build_services); a process that only enqueues
    # (the web server, `coachbox jobs`) never runs a task here and needs none.
    build: Callable[[Settings], Services] | None = None

    def get(self) -> Services:
        if self.services is None:
            if self.build is None:
                raise RuntimeError("this process enqueues tasks but cannot run them: it was given no services builder")
            open_database(self.settings.db_path).close()
            self.services = self.build(self.settings)
            # What the worker commits (sends, lessons, tutor answers) reaches open admin pages through the relay.
            self.services.relay = events.Relay(self.services.cache)
        return self.services

    def close(self) -> None:
        if self.services is not None:
            relay = self.services.relay
            if relay is not None:
                relay.close()  # before the cache it writes to closes
            self.services.close_sync()
            self.services = None


@dataclass
class Tasks:
    """Handles for enqueuing from the web process (same names in every process)."""

    checkpoint: Callable
    extra: dict[str, Callable]


def register(huey: Huey, settings: Settings, context: WorkerContext | None = None) -> Tasks:
    """Register every task on this Huey instance; returns the handles."""
    context = context or WorkerContext(settings)

    @huey.periodic_task(crontab(minute="*/5"), name="checkpoint")
    def checkpoint() -> None:
        services = context.get()
        busy, wal_pages, done = services.db.run_sync(truncate_checkpoint)
        log.debug("checkpoint", extra={"busy": busy, "wal_pages": wal_pages, "checkpointed": done})
        # queue.db too: its auto-checkpoint is off as well (coachbox.jobs.queue), and Huey never checkpoints.
        queue_checkpoint = getattr(huey.storage, "checkpoint", None)
        if queue_checkpoint is not None:
            queue_checkpoint()

    extra: dict[str, Callable] = heartbeat.register(huey, context)
    for module in TASK_MODULES:
        extra.update(module.register(huey, context))
    return Tasks(checkpoint=checkpoint, extra=extra)


# Modules with a `register(huey, context) -> {name: task}` function, imported by name so the graph shows them.
TASK_MODULES = (channel_tasks, certificate_tasks, tutor_tasks, voice_tasks, payment_tasks, schedule_tasks, inbox_notify)
