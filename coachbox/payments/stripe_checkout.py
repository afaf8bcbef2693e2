"""Stripe through the official client: a Checkout Session link (subscription mode) and cancel-at-period-end.

https://docs.stripe.com/api/checkout/sessions/create and https://docs.stripe.com/billing/subscriptions/cancel
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import stripe

from coachbox.core.plans import Plan
from coachbox.payments.errors import ProviderError


@dataclass(frozen=True)
class CheckoutLink:
    session_id: str
    url: str
    currency: str
    price_id: str


class StripeCheckout:
    def __init__(self, settings: Any, *, http_client: Any = None) -> None:
        self.public_url = settings.server.public_url.rstrip("/")
        # base_addresses points the real client at a Stripe-compatible server or our local test double.
        self.client = stripe.StripeClient(
            settings.stripe.secret_key,
            base_addresses={"api": settings.stripe.api_base_url.rstrip("/")},
            max_network_retries=2,
            http_client=http_client,
        )

    def create_link(
        self, *, learner_id: int, plan: Plan, currency: str | None, request_key: str, language: str = "en"
    ) -> CheckoutLink:
        """A hosted Checkout page for this plan's Stripe price; the subscription carries learner and plan in its
        metadata, so every later invoice and subscription event finds its learner without our session row."""
        chosen = plan.stripe_price(currency)
        if chosen is None:
            raise ProviderError(f"plans.{plan.name} has no stripe_price", provider="stripe", permanent=True)
        price_currency, price_id = chosen
        metadata = {"learner_id": str(learner_id), "plan": plan.name}
        try:
            session = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "subscription",
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "client_reference_id": str(learner_id),
                    "metadata": metadata,
                    "subscription_data": {"metadata": metadata},
                    # The return pages speak the learner's language (the browser may not say it).
                    "success_url": f"{self.public_url}/payments/done?{urlencode({'lang': language})}",
                    "cancel_url": f"{self.public_url}/payments/cancelled?{urlencode({'lang': language})}",
                },
                # Stripe's idempotency key: a retried task gets the same session, not a second one.
                options={"idempotency_key": request_key},
            )
        except stripe.StripeError as exc:
            raise ProviderError(
                f"Stripe: {exc.user_message or exc.__class__.__name__}",
                provider="stripe",
                code=exc.code,
                status=exc.http_status,
                permanent=isinstance(exc, (stripe.InvalidRequestError, stripe.AuthenticationError)),
            ) from None
        if session.url is None:  # Stripe sends no url only for embedded or finished sessions, never made here
            raise ProviderError("Stripe: the checkout session has no url", provider="stripe", permanent=True)
        return CheckoutLink(session.id, session.url, price_currency, price_id)

    def cancel_at_period_end(self, subscription_id: str) -> None:
        try:
            self.client.v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": True})
        except stripe.StripeError as exc:
            raise ProviderError(
                f"Stripe: {exc.user_message or exc.__class__.__name__}",
                provider="stripe",
                code=exc.code,
                status=exc.http_status,
                permanent=isinstance(exc, stripe.InvalidRequestError),
            ) from None
