"""What the supervisor of `coachbox run`/`serve` hands to the processes it spawns, without loading them itself.

Sanic's main process only supervises: it serves no request and runs no task. Spawned processes receive these
functions by reference, so the supervisor imports this small module instead of the web app and the worker (about
20 MB less in a process that does nothing else), and a bug in a route cannot break the process that restarts them.
"""

from __future__ import annotations

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
    return create_app(settings)


def worker_process(settings: Settings) -> None:
    """The Huey consumer beside the web workers."""
    # lazy: the consumer and every task load in the worker process only, never in the supervisor
    from coachbox.roots.worker import run_worker

    private_files()
    run_worker(settings)
