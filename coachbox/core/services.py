"""The composition root's product: every long-lived resource a process needs, built once and closed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import diskcache
from huey import Huey

from coachbox.channels import build_channel
from coachbox.channels.base import Channel
from coachbox.core.clock import Clock, SystemClock
from coachbox.core.config import Settings
from coachbox.store.database import Database


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database  # the single writer connection (its own thread)
    cache: diskcache.Cache  # sessions, rate limits, caches: shared by every process on the box
    channel: Channel
    huey: Huey
    extras: dict[str, Any] = field(default_factory=dict)  # feature-owned resources (sender, tutor client…)

    async def aclose(self) -> None:
        await self.channel.close()
        self.close_sync()

    def close_sync(self) -> None:
        self.cache.close()
        self.db.close()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    channel: Channel | None = None,
    huey: Huey | None = None,
) -> Services:
    """Open everything (the schema must already be migrated: see coachbox.store.open_database)."""
    from coachbox.jobs.queue import create_huey

    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        db=Database(settings.db_path),
        # Cache, not FanoutCache: FanoutCache's 10 ms timeout silently drops increments under contention.
        # cull_limit=0: no expiry sweep and size check on every write (a SELECT and a PRAGMA each time, ~10 % of
        # a webhook turn); housekeeping culls nightly instead (expired entries, then the size limit).
        cache=diskcache.Cache(str(settings.cache_dir), timeout=60, cull_limit=0),
        channel=channel or build_channel(settings),
        huey=huey if huey is not None else create_huey(settings),
    )
