"""What the Payments page says about its own setup: which providers work, what is missing, and the keys that fix it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from coachbox.core.plans import format_amount, plans_for

# The keys each provider needs before a learner can pay with it (section.key, as in coachbox.toml and
# docs/configuration.md; secrets go in the environment: COACHBOX_MPESA_PASSKEY…).
MPESA_KEYS = ("consumer_key", "consumer_secret", "shortcode", "passkey", "callback_secret")
STRIPE_KEYS = ("secret_key", "webhook_secret")


@dataclass(frozen=True)
class Setup:
    """One part of payments: configured or not, in a sentence, with what is missing and how to fix it."""

    name: str
    ready: bool
    says: str  # what it means for learners, now
    missing: tuple[tuple[str, str], ...] = ()  # (section.key to set, its environment variable when a secret, or "")
    fix: str = ""  # how, in a sentence
    note: str = ""  # a caveat even when ready (sandbox, http)


def env_name(key: str) -> str:
    """ "mpesa.passkey" → "COACHBOX_MPESA_PASSKEY" (how a secret is set without writing it in coachbox.toml)."""
    return "COACHBOX_" + key.replace(".", "_").upper()


def _missing(section: Any, name: str, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The unset keys of a settings section, each with its environment variable when it is a secret."""
    secret = {f.name: f.metadata.get("secret", False) for f in fields(section)}
    return tuple(
        (f"{name}.{k}", env_name(f"{name}.{k}") if secret.get(k) else "") for k in keys if not getattr(section, k)
    )


def payment_setup(settings: Any) -> list[Setup]:
    """Plans, M-PESA and Stripe as they are configured on this box, in words a school admin can act on."""
    try:
        plans = list(plans_for(settings).values())
    except Exception:  # noqa: BLE001 - a broken [plans] table is said on the page, not a 500
        plans = []
    out = []
    if plans:
        prices = "; ".join(
            f"{p.title}: "
            + ", ".join(format_amount(amount, currency) for currency, amount in p.prices)
            + f" for {p.period_days} days"
            for p in plans
        )
        out.append(Setup("Paid plans", True, f"{len(plans)} plan{'s' if len(plans) != 1 else ''}: {prices}."))
    else:
        out.append(
            Setup(
                "Paid plans",
                False,
                "No paid plans: learners are never asked to pay, and every course is free.",
                (("plans.<name>.price", ""), ("plans.<name>.period_days", "")),
                "Add a [plans.<name>] table to coachbox.toml (see docs/payments.md), then restart the box.",
            )
        )
    mpesa = settings.mpesa
    missing = _missing(mpesa, "mpesa", MPESA_KEYS)
    public = settings.server.public_url
    if not missing:
        note = ""
        if "sandbox" in mpesa.base_url:
            note = f"mpesa.base_url is Safaricom's sandbox ({mpesa.base_url}): no real money moves."
        elif not public.startswith("https://"):
            note = f"server.public_url is {public}: Daraja only calls back to a public https address."
        out.append(Setup("M-PESA", True, f"Learners in {mpesa.countries} can pay by M-PESA (STK push).", note=note))
    else:
        out.append(
            Setup(
                "M-PESA",
                False,
                "Off: learners cannot pay by M-PESA.",
                missing,
                "Copy them from your Daraja app: secrets into the environment variable named beside each, the "
                "others into coachbox.toml's [mpesa]. Restart the box; coachbox check tests them.",
            )
        )
    stripe = settings.stripe
    missing = _missing(stripe, "stripe", STRIPE_KEYS)
    priced = [p.title for p in plans if p.stripe_prices]
    if not missing:
        note = "" if priced or not plans else "No plan has a plans.<name>.stripe_price: nobody is offered a card."
        out.append(Setup("Stripe (cards)", True, "Learners can pay by card (Stripe Checkout).", note=note))
    else:
        out.append(
            Setup(
                "Stripe (cards)",
                False,
                "Off: learners cannot pay by card.",
                missing,
                "Copy them from your Stripe dashboard into the environment variables named beside them, then "
                "restart the box.",
            )
        )
    return out
