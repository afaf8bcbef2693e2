"""Huey tasks for payments: STK push, card link, Stripe cancel, the stuck-payment sweep, reminders and expiry."""

from __future__ import annotations

import asyncio
import logging

from huey import Huey, crontab

from coachbox.core.services import Services
from coachbox.payments import checkout, recovery
from coachbox.payments.runtime import payments
from coachbox.payments.subscriptions import remind_and_expire

log = logging.getLogger("coachbox.jobs.payments")


def register(huey: Huey, context) -> dict:

    async def _push(services: Services, payment_id: int) -> str:
        try:
            return await checkout.push(services, payment_id)
        finally:
            daraja = payments(services).daraja
            if daraja is not None:
                await daraja.aclose()  # its connections belong to this asyncio.run loop

    @huey.task(name="payments.push")
    def push(payment_id: int) -> str:
        # No Huey retries: a payment left 'new' is picked up by payments_sweep within a minute.
        return asyncio.run(_push(context.get(), payment_id))

    @huey.task(name="payments.card_link", retries=2, retry_delay=20)
    def card_link(learner_id: int, plan: str, currency: str | None, request_key: str) -> str:
        return asyncio.run(checkout.card_link(context.get(), learner_id, plan, currency, request_key))

    @huey.task(name="payments.cancel_stripe", retries=3, retry_delay=60)
    def cancel_stripe(subscription_ids: list[str]) -> None:
        asyncio.run(checkout.cancel_at_stripe(context.get(), subscription_ids))

    @huey.periodic_task(crontab(minute="*"), name="payments_sweep")
    def payments_sweep() -> dict:
        counts = asyncio.run(recovery.sweep(context.get()))
        if any(counts.values()):
            log.info("payments sweep", extra=counts)
        return counts

    @huey.periodic_task(crontab(minute="7"), name="payments_reminders")
    def payments_reminders() -> dict:
        services = context.get()
        texts = payments(services).texts
        return services.db.run_sync(remind_and_expire, texts, services.clock.now())

    return {
        "payments.push": push,
        "payments.card_link": card_link,
        "payments.cancel_stripe": cancel_stripe,
        "payments_sweep": payments_sweep,
        "payments_reminders": payments_reminders,
    }
