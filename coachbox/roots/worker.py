"""The Huey consumer process: `coachbox worker`, and the managed process beside the server in `coachbox run`."""

from __future__ import annotations

import logging

from coachbox.core.config import Settings
from coachbox.core.datalock import hold_shared
from coachbox.core.logs import setup_logging
from coachbox.jobs import heartbeat
from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import WorkerContext, register
from coachbox.roots.services import build_services
from coachbox.store import heartbeat as store_heartbeat

log = logging.getLogger("coachbox.worker")

# Docker gives a container 10 s between SIGTERM and SIGKILL; a long task must not hold the stop past that.
SHUTDOWN_TIMEOUT_SECONDS = 7.0


def run_worker(settings: Settings, *, workers: int = 2) -> None:
    """Run the consumer until SIGINT/SIGTERM (Huey stops gracefully on both)."""

    setup_logging(settings)
    data_lock = hold_shared(settings)  # `coachbox restore` refuses while we hold it
    huey = create_huey(settings)
    context = WorkerContext(settings, build=build_services)
    register(huey, settings, context)
    consumer = huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=True,
        check_worker_health=True,
        flush_locks=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    log.info("worker starting", extra={"queue": str(settings.queue_path), "workers": workers})
    try:
        heartbeat.beat(context, store_heartbeat.TICK_KEY)  # /healthz sees a restarted worker at once, not in a minute
        consumer.run()
    finally:
        context.close()
        data_lock.close()
        log.info("worker stopped")
