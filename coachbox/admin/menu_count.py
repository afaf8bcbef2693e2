"""The admin menu's Inbox count on every page: one read per class scope, shared by every open tab of the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sanic import Request

from coachbox.admin.scope import LearnerScope, scope_for
from coachbox.core import events
from coachbox.core.services import Services
from coachbox.store import handover as handovers

TOPIC = "inbox"  # published when a handover opens, closes or changes (the same topic as admin.inbox.TOPIC)
# Changes nobody published in this process (a tutor answer or a payment in the worker, the command line, another
# web worker) show within this long: at most one read per scope this often, however many tabs are open.
REREAD_SECONDS = 5.0


@dataclass
class _Read:
    generation: int  # the hub's generation of TOPIC when this read started
    started: float  # time.monotonic()
    result: asyncio.Future[int]


class MenuCounts:
    """Open handovers per scope (an owner's "everyone", a teacher's classes), read again only when the process's
    hub saw TOPIC published since the last read, or REREAD_SECONDS passed. Every page's menu and every live stream
    (admin.live._serve) asks here, so ten tabs of one teacher cost what one does: no query per tab per second."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic  # seconds that only go forward (a test passes its own)
        self._reads: dict[LearnerScope, _Read] = {}
        self.queries = 0  # reads made (tests and bench measure this)

    async def get(self, services: Services, scope: LearnerScope) -> int:
        generation = events.hub(services).generation(TOPIC)
        now = self._monotonic()
        read = self._reads.get(scope)
        if read is None or read.generation != generation or now - read.started >= REREAD_SECONDS or _failed(read):
            sql, params = scope.sql("learners.id")
            self.queries += 1
            read = _Read(generation, now, asyncio.ensure_future(services.db.run(handovers.count_open, sql, params)))
            self._reads[scope] = read
        # shield: a stream that ends (its tab closed) while waiting must not cancel the read the others share.
        return await asyncio.shield(read.result)


def _failed(read: _Read) -> bool:
    return read.result.done() and (read.result.cancelled() or read.result.exception() is not None)


def counts_of(request: Request) -> MenuCounts:
    """The web process's MenuCounts (one per app, made on first use)."""
    found = getattr(request.app.ctx, "menu_counts", None)
    if found is None:
        found = request.app.ctx.menu_counts = MenuCounts()
    return found


async def open_count(request: Request, admin: dict | None = None) -> int | None:
    """The signed-in admin's menu count (None: nobody signed in)."""
    admin = admin if admin is not None else getattr(request.ctx, "admin", None)
    if not admin:
        return None
    return await counts_of(request).get(request.app.ctx.services, scope_for(admin))
