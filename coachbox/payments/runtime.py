"""Per-process payment resources (plans, texts, Daraja and Stripe clients), kept in Services.payments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coachbox.conversation.texts import Texts
from coachbox.core.plans import Plan, plans_for
from coachbox.core.services import Services
from coachbox.payments.mpesa import DarajaClient
from coachbox.payments.stripe_checkout import StripeCheckout


@dataclass
class Payments:
    settings: Any
    plans: dict[str, Plan]
    texts: Any
    daraja: DarajaClient | None
    stripe: StripeCheckout | None

    @classmethod
    def build(cls, settings: Any, *, texts: Any = None) -> Payments:
        if texts is None:
            texts = Texts.load(settings.content_dir / "locales")
        return cls(
            settings,
            plans_for(settings),
            texts,
            DarajaClient(settings) if settings.mpesa.consumer_key else None,
            StripeCheckout(settings) if settings.stripe.secret_key else None,
        )

    async def aclose(self) -> None:
        if self.daraja is not None:
            await self.daraja.aclose()


def payments(services: Services) -> Payments:
    """The process's Payments, built on first use (tests may put their own in services.payments)."""
    found = services.payments
    if found is None:
        found = services.payments = Payments.build(services.settings)
    return found
