"""Huey tasks for the outbox: a doorbell only (the rows in SQLite are the truth); drain and reconcile."""

from __future__ import annotations

import asyncio
import logging

from huey import Huey, crontab

from coachbox.channels.costs import reconcile_costs
from coachbox.channels.sender import drain
from coachbox.core.services import Services

log = logging.getLogger("coachbox.jobs.outbox")

DRAIN_SECONDS = 50.0  # below the one-minute period, so ticks rarely overlap (overlap is safe: claims are CAS)


async def _drain(services: Services, seconds: float) -> int:
    try:
        return await drain(services, seconds=seconds)
    finally:
        await services.channel.close()  # its HTTP session belongs to this asyncio.run loop


def register(huey: Huey, context) -> dict:
    # crontab(minute='*') also fires as soon as the consumer starts: that first run reconciles rows a
    # crashed sender left 'sending' (drain() reconciles before it sends anything).
    @huey.periodic_task(crontab(minute="*"), name="outbox_drain")
    def outbox_drain() -> int:
        sent = asyncio.run(_drain(context.get(), DRAIN_SECONDS))
        log.debug("outbox drain", extra={"claimed": sent})
        return sent

    @huey.task(name="outbox_kick")
    def outbox_kick() -> int:
        """Enqueued by code outside the web process (CLI, jobs) after writing outbox rows."""
        return asyncio.run(_drain(context.get(), DRAIN_SECONDS))

    @huey.periodic_task(crontab(minute="*"), name="cost_reconcile")
    def cost_reconcile() -> int:
        """The cost ledger's actual figures: Meta's pricing through the rate card, Twilio's price at a polite rate
        ([costs] price_lookups_per_minute)."""
        services = context.get()

        async def run() -> int:
            try:
                return await reconcile_costs(services)
            finally:
                await services.channel.close()

        return asyncio.run(run())

    return {"outbox_drain": outbox_drain, "outbox_kick": outbox_kick, "cost_reconcile": cost_reconcile}
