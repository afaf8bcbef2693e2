"""Huey tasks: a few lines each, calling feature functions with the worker's own Services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey, crontab

from coachbox.core.config import Settings

log = logging.getLogger("coachbox.jobs")


@dataclass
class WorkerContext:
    """Resources of one worker process, opened at consumer start-up (never at import)."""

    settings: Settings
    services: Any = None

    def get(self):
        if self.services is None:
            from coachbox.roots.services import build_services
            from coachbox.store import open_database

            open_database(self.settings.db_path).close()
            self.services = build_services(self.settings)
            from coachbox.core import events

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
        from coachbox.store import checkpoint as truncate_checkpoint

        services = context.get()
        busy, wal_pages, done = services.db.run_sync(truncate_checkpoint)
        log.debug("checkpoint", extra={"busy": busy, "wal_pages": wal_pages, "checkpointed": done})
        # queue.db too: its auto-checkpoint is off as well (coachbox.jobs.queue), and Huey never checkpoints.
        queue_checkpoint = getattr(huey.storage, "checkpoint", None)
        if queue_checkpoint is not None:
            queue_checkpoint()

    extra: dict[str, Callable] = {}
    for module_name in TASK_MODULES:
        import importlib

        extra.update(importlib.import_module(module_name).register(huey, context))
    return Tasks(checkpoint=checkpoint, extra=extra)


# Feature modules with a `register(huey, context) -> {name: task}` function.
TASK_MODULES: tuple[str, ...] = (
    "coachbox.channels.tasks",
    "coachbox.certificates.tasks",
    "coachbox.tutor.tasks",
    "coachbox.payments.tasks",
    "coachbox.schedule.tasks",
)
