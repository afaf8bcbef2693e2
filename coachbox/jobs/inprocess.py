"""The box's Huey consumer on threads inside another process, so that process needs no separately started worker.

`coachbox chat` runs one: a learner in the terminal gets the tutor's answers, the follow-up quiz, the next daily
lesson and certificates from the very tasks `coachbox worker` runs (the same registry, the same queue in data/), not
from a per-feature copy. Beside a running `coachbox run` it is one more consumer of that queue, which the tasks
allow: their truth is in SQLite (claims, deliveries keys, pending exchanges) and the jobs take Huey locks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from huey import Huey
from huey.consumer import Consumer

from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.jobs.tasks import WorkerContext, register

log = logging.getLogger("coachbox.jobs")

# An idle consumer thread looks at the queue at least this often (Huey backs off up to max_delay): a tutor answer
# enqueued after a quiet spell starts within this long. Huey's default is 10 s.
MAX_POLL_SECONDS = 0.5
# Stopping waits this long for tasks in flight (a tutor call) before leaving their daemon threads behind.
SHUTDOWN_TIMEOUT_SECONDS = 10.0


class _ThreadConsumer(Consumer):
    """Huey's consumer without its signal handlers: the host process keeps Ctrl-C (and may not be on the main
    thread, where only signal handlers can be set)."""

    def _set_signal_handlers(self) -> None:
        return None


class InProcessWorker:
    """Every task of the registry (jobs.tasks) on `huey`, consumed by threads of this process.

    `build` makes the tasks' own Services (the composition root's builder, as for `coachbox worker`). periodic:
    whether Huey's scheduler enqueues the periodic jobs (every minute by the real time); without it they run only
    when something enqueues them. on_task_done(): called on a consumer thread after each task ran (to kick a sender).
    flush_locks: clear task locks a killed consumer left behind; only safe when no other consumer can hold one.
    """

    def __init__(
        self,
        huey: Huey,
        settings: Settings,
        build: Callable[[Settings], Services],
        *,
        workers: int = 2,
        periodic: bool = True,
        flush_locks: bool = False,
        on_task_done: Callable[[], None] | None = None,
    ) -> None:
        self.huey = huey
        self.context = WorkerContext(settings, build=build)
        self.tasks = register(huey, settings, self.context).extra
        self._running = 0
        self._lock = threading.Lock()
        self._on_task_done = on_task_done
        huey.pre_execute(name="coachbox.inprocess.started")(self._started)
        huey.post_execute(name="coachbox.inprocess.finished")(self._finished)
        self.consumer = _ThreadConsumer(
            huey,
            workers=workers,
            worker_type="thread",
            periodic=periodic,
            check_worker_health=False,  # Huey checks only from Consumer.run(), which is the host's loop here
            flush_locks=flush_locks,
            max_delay=MAX_POLL_SECONDS,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        )
        self._started_threads = False

    def start(self) -> None:
        self.context.get()  # the tasks' Services, made once here rather than raced for by the first two tasks
        self.consumer.start()
        self._started_threads = True
        log.info("in-process worker started", extra={"queue": str(self.context.settings.queue_path)})

    def idle(self) -> bool:
        """Nothing waiting in the queue and no task running here (a scheduled retry may still come later)."""
        with self._lock:
            if self._running:
                return False
        return self.huey.pending_count() == 0

    def stop(self) -> None:
        """Let running tasks finish (up to SHUTDOWN_TIMEOUT_SECONDS), stop the threads, close the tasks' Services."""
        if self._started_threads:
            self.consumer.stop(graceful=True)
            self._started_threads = False
        self.huey.unregister_pre_execute("coachbox.inprocess.started")
        self.huey.unregister_post_execute("coachbox.inprocess.finished")
        self.context.close()

    def _started(self, task) -> None:
        with self._lock:
            self._running += 1

    def _finished(self, task, value, exc) -> None:
        with self._lock:
            self._running -= 1
        if self._on_task_done is not None:
            try:
                self._on_task_done()
            except Exception:  # noqa: BLE001 - a missed kick is caught up by the sender's own poll
                log.exception("after-task hook failed")
