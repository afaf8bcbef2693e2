"""The drainers: the web process's background Sender (kicked after each turn) and the worker's periodic drain."""

from __future__ import annotations

import asyncio
import logging
import time

from coachbox.channels.outbox import deliver_due
from coachbox.channels.reconcile import reconcile
from coachbox.core.services import Services

log = logging.getLogger("coachbox.outbox")


class Sender:
    """Drains the outbox in the web process: kick() after a turn commits, so a reply leaves at once."""

    POLL_SECONDS = 5.0  # safety net for retries that fall due and rows written by other processes
    # After a kick, wait this long before claiming: replies of turns committing meanwhile share one claim
    # and one batch of writes, instead of one drain per webhook competing with the handlers on this loop.
    # (20 ms was tried for issue #15: under overload the bigger batches of sends held the event loop in bursts and
    # webhook p99 at 650 req/s rose from ~300 ms to 1.5 s.)
    GATHER_SECONDS = 0.005

    def __init__(self, services: Services) -> None:
        self.services = services
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    def kick(self) -> None:
        if self._event is not None:
            self._event.set()

    async def start(self) -> None:
        self._event = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def _run(self) -> None:
        event = self._event
        if event is None:
            raise RuntimeError("Sender._run() runs only after start()")
        try:
            await reconcile(self.services)
        except Exception:  # noqa: BLE001 - the drainer must keep running
            log.exception("outbox reconcile failed")
        while not self._stopping:
            try:
                while not self._stopping and await deliver_due(self.services):
                    pass
            except Exception:  # noqa: BLE001
                log.exception("outbox drain failed")
            try:
                await asyncio.wait_for(event.wait(), timeout=self.POLL_SECONDS)
                await asyncio.sleep(self.GATHER_SECONDS)
            except TimeoutError:
                pass
            event.clear()

    async def stop(self, timeout: float = 12.0) -> None:
        """Let in-flight sends finish (so their sids are recorded), then stop."""
        self._stopping = True
        if self._task is None:
            return
        self.kick()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()


async def drain(services: Services, *, seconds: float = 50.0) -> int:
    """Reconcile, then deliver until nothing is due or `seconds` pass (the worker's periodic task)."""
    await reconcile(services)
    deadline = time.monotonic() + seconds
    total = 0
    while time.monotonic() < deadline:
        claimed = await deliver_due(services)
        if not claimed:
            break
        total += claimed
    return total
