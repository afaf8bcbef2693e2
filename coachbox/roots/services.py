"""Builds a process's Services: the database writer, the cache, the channel and the queue."""

from __future__ import annotations

import logging
import os

import diskcache
from huey import Huey

from coachbox.channels import build_channel
from coachbox.channels.base import Channel
from coachbox.core.clock import TEST_NOW_VARIABLE, Clock, SystemClock, clock_from_environment
from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.jobs.queue import create_huey
from coachbox.store.database import Database

log = logging.getLogger("coachbox.services")


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    channel: Channel | None = None,
    huey: Huey | None = None,
) -> Services:
    """Open everything (the schema must already be migrated: see coachbox.store.open_database).

    Without a `clock`: the system clock, or the test clock COACHBOX_TEST_NOW asks for (processes a test starts).
    """
    if clock is None:
        clock = clock_from_environment(os.environ)
        if not isinstance(clock, SystemClock):
            log.warning(
                "%s is set: this process runs on a test clock, not the real time (never set it in production)",
                TEST_NOW_VARIABLE,
                extra={"now": clock.now().isoformat()},
            )
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    return Services(
        settings=settings,
        clock=clock,
        db=Database(settings.db_path),
        # Cache, not FanoutCache: FanoutCache's 10 ms timeout silently drops increments under contention.
        # cull_limit=0: no expiry sweep and size check on every write (a SELECT and a PRAGMA each time, ~10 % of
        # a webhook turn); housekeeping culls nightly instead (expired entries, then the size limit).
        cache=diskcache.Cache(str(settings.cache_dir), timeout=60, cull_limit=0),
        channel=channel or build_channel(settings),
        huey=huey if huey is not None else create_huey(settings),
    )
