"""The worker's heartbeat, read by /healthz: the scheduler's last tick and the consumer's last task.

A periodic task records the tick every minute: it runs only if the consumer's scheduler enqueued it and one of
its worker threads took it off the queue, so a fresh tick proves the whole consumer works. A Huey signal records
every finished task too, at most once every TASK_BEAT_SECONDS so a busy queue adds no write per task.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from huey import Huey, crontab
from huey import signals as huey_signals

from coachbox.store import heartbeat

log = logging.getLogger("coachbox.jobs")

TASK_BEAT_SECONDS = 10.0  # a finished task refreshes the heartbeat at most this often


class TaskBeats:
    """Throttle for the per-task heartbeat (monotonic time: a stretch of seconds, never a time of day)."""

    def __init__(self, every: float = TASK_BEAT_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._monotonic = monotonic
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        with self._lock:
            now = self._monotonic()
            if now < self._next:
                return False
            self._next = now + self.every
            return True


def beat(context, key: str) -> None:
    """Record one heartbeat through the worker's writer thread (`context` is a jobs.tasks.WorkerContext)."""
    services = context.get()
    services.db.run_sync(heartbeat.beat, key, services.clock.now())


def register(huey: Huey, context) -> dict[str, Callable]:
    beats = TaskBeats()

    @huey.periodic_task(crontab(), name="heartbeat")
    def tick() -> None:
        beat(context, heartbeat.TICK_KEY)

    @huey.signal(huey_signals.SIGNAL_COMPLETE, huey_signals.SIGNAL_ERROR)
    def task_finished(signal: str, task: object, exc: BaseException | None = None) -> None:
        if context.services is None and context.build is None:
            return  # a process that only enqueues (the web server; its Huey runs tasks inline in tests): no worker
        if not beats.due():
            return
        try:
            beat(context, heartbeat.TASK_KEY)
        except Exception:  # noqa: BLE001 - a heartbeat that cannot be written must not fail the task's signal
            log.warning("cannot record the worker heartbeat", exc_info=True)

    return {"heartbeat": tick}
