"""What the supervisor of `coachbox run`/`serve` hands to the processes it spawns, without loading them itself.

Sanic's main process only supervises: it serves no request and runs no task. Spawned processes receive these
functions by reference, so the supervisor imports this small module instead of the web app and the worker (about
20 MB less in a process that does nothing else), and a bug in a route cannot break the process that restarts them.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING

from coachbox.core.config import Settings
from coachbox.core.logs import setup_logging

if TYPE_CHECKING:
    from sanic import Sanic


def private_files() -> None:
    """umask 077: every file this process creates (databases, media, certificates, backups, logs) is 0600 and every
    folder 0700. The CLI sets it first thing; a spawned process sets it again rather than trust what it inherited."""
    os.umask(0o077)


def web_app(settings: Settings) -> Sanic:
    """The app of one web worker process, with the same JSON log lines as every other process."""
    # lazy: Sanic and every route load in the web workers only, never in the supervisor
    from coachbox.roots.app import create_app

    private_files()
    setup_logging(settings)
    app = create_app(settings)
    app.after_server_start(_freeze_start_up_objects)
    return app


async def _freeze_start_up_objects(app: Sanic) -> None:
    """Once the worker is up: what start-up made (modules, settings, routes, services) lives as long as the process,
    so Python's cyclic garbage collector is told to stop scanning it (gc.freeze). A full collection stops the whole
    worker: it scanned ~90,000 objects in 45-59 ms of CPU each time, a pause every webhook in flight waited for
    (issue #15, the open loop's p99); after the freeze the same collections take 5-12 ms. Only served workers do
    this: the test suite builds apps over and over in one process, and frozen objects are never freed."""
    gc.collect()
    gc.freeze()


def worker_process(settings: Settings) -> None:
    """The Huey consumer beside the web workers."""
    # lazy: the consumer and every task load in the worker process only, never in the supervisor
    from coachbox.roots.worker import run_worker

    private_files()
    run_worker(settings)
