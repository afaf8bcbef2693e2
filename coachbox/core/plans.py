"""Paid plans from [plans.<name>] tables: validated into frozen data; money is integers in minor units."""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coachbox.core.errors import UserError

ALL_PREMIUM = "all-premium"


class PlanError(UserError):
    """A [plans.<name>] table that cannot be used; the message names the key (config.py adds the file)."""


# ISO 4217 minor-unit exponents for the currencies a school is likely to charge in. A currency not listed
# here is refused rather than guessed: getting the exponent wrong would charge 100 times the price.
EXPONENTS: dict[str, int] = {
    "KES": 2,
    "TZS": 2,
    "UGX": 0,
    "RWF": 0,
    "BIF": 0,
    "ETB": 2,
    "SOS": 2,
    "SSP": 2,
    "CDF": 2,
    "MWK": 2,
    "ZMW": 2,
    "MZN": 2,
    "NGN": 2,
    "GHS": 2,
    "XOF": 0,
    "XAF": 0,
    "ZAR": 2,
    "EGP": 2,
    "MAD": 2,
    "INR": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "JPY": 0,
}

# Phone number region → the currency a learner there is shown first.
REGION_CURRENCY: dict[str, str] = {
    "KE": "KES",
    "TZ": "TZS",
    "UG": "UGX",
    "RW": "RWF",
    "BI": "BIF",
    "ET": "ETB",
    "SO": "SOS",
    "SS": "SSP",
    "CD": "CDF",
    "MW": "MWK",
    "ZM": "ZMW",
    "MZ": "MZN",
    "NG": "NGN",
    "GH": "GHS",
    "ZA": "ZAR",
    "EG": "EGP",
    "MA": "MAD",
    "IN": "INR",
    "US": "USD",
    "GB": "GBP",
    "CA": "CAD",
    "AU": "AUD",
    "CH": "CHF",
    "SE": "SEK",
    "NO": "NOK",
    "DK": "DKK",
    "JP": "JPY",
    "SN": "XOF",
    "CI": "XOF",
    "CM": "XAF",
    **{region: "EUR" for region in ("DE", "FR", "NL", "BE", "IE", "IT", "ES", "PT", "AT", "FI", "GR", "LU")},
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_KEYS = {"title", "price", "period_days", "courses", "free_lessons", "grace_days", "stripe_price"}


@dataclass(frozen=True)
class Plan:
    name: str
    title: str
    prices: tuple[tuple[str, int], ...]  # (currency, amount in minor units), in the order the file lists them
    period_days: int
    courses: frozenset[str] | None  # course slugs (a course or its translations); None = every premium course
    free_lessons: int = 0  # lessons of a premium course a learner gets before PAY is asked
    grace_days: int = 3  # access kept after the paid period ends (a renewal on its way)
    stripe_prices: tuple[tuple[str, str], ...] = ()  # (currency, Stripe price id)

    def price(self, currency: str) -> int | None:
        return dict(self.prices).get(currency)

    def covers(self, family: str) -> bool:
        return self.courses is None or family in self.courses

    def stripe_price(self, currency: str | None) -> tuple[str, str] | None:
        """(currency, price id) for a card payment: the learner's currency when there is one, else the first."""
        if not self.stripe_prices:
            return None
        found = dict(self.stripe_prices)
        if currency in found:
            return currency, found[currency]
        return self.stripe_prices[0]


def load_plans(raw: Mapping[str, Any]) -> dict[str, Plan]:
    """Settings.plans (the raw [plans.*] tables) → Plans; a PlanError names the key at fault."""
    return {name: _plan(name, table) for name, table in raw.items()}


_PARSED: dict[int, tuple[weakref.ref, dict[str, Plan]]] = {}


def plans_for(settings: Any) -> dict[str, Plan]:
    """The parsed plans of this Settings object, parsed once: every chat turn asks, and Settings is frozen."""
    hit = _PARSED.get(id(settings))
    if hit is not None and hit[0]() is settings:
        return hit[1]
    plans = load_plans(settings.plans)
    if len(_PARSED) > 64:
        _PARSED.clear()  # only tests make many Settings; a process serves one
    _PARSED[id(settings)] = (weakref.ref(settings), plans)
    return plans


def _plan(name: str, table: Mapping[str, Any]) -> Plan:
    where = f"plans.{name}"
    if not _NAME.match(name):
        raise PlanError(f"{where}: plan names are lowercase letters, digits, - and _ (up to 40), got {name!r}.")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise PlanError(f"unknown key {where}.{unknown[0]}. Known keys: {', '.join(sorted(_KEYS))}.")
    prices = table.get("price")
    if not isinstance(prices, dict) or not prices:
        raise PlanError(f"{where}.price must be a table of minor units per currency, e.g. price = {{ KES = 20000 }}.")
    parsed_prices = []
    for currency, amount in prices.items():
        key = f"{where}.price.{currency}"
        if currency not in EXPONENTS:
            raise PlanError(f"{key}: unknown currency; use an ISO 4217 code such as KES or USD.")
        # bool is an int in Python and a float is never money: both are refused by name.
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise PlanError(f"{key} must be a whole number of minor units (KES 200.00 is 20000), got {amount!r}.")
        if amount <= 0:
            raise PlanError(f"{key} must be above 0 (a free course needs no plan).")
        if currency == "KES" and amount % 100:
            # M-PESA charges whole shillings only (Daraja's Amount is an integer number of KES).
            raise PlanError(f"{key} must be whole shillings for M-PESA (a multiple of 100 minor units), got {amount}.")
        parsed_prices.append((currency, amount))
    period_days = _whole(table.get("period_days"), f"{where}.period_days", minimum=1, required=True)
    free_lessons = _whole(table.get("free_lessons", 0), f"{where}.free_lessons", minimum=0)
    grace_days = _whole(table.get("grace_days", 3), f"{where}.grace_days", minimum=0)
    courses = table.get("courses", ALL_PREMIUM)
    if courses == ALL_PREMIUM:
        covered = None
    elif isinstance(courses, list) and courses and all(isinstance(c, str) and c for c in courses):
        covered = frozenset(courses)
    else:
        raise PlanError(f'{where}.courses must be "{ALL_PREMIUM}" or a list of course slugs, got {courses!r}.')
    stripe = table.get("stripe_price", {})
    if not isinstance(stripe, dict) or any(
        not isinstance(v, str) or not v.startswith("price_") for v in stripe.values()
    ):
        raise PlanError(
            f'{where}.stripe_price must be a table of Stripe price ids per currency, e.g. {{ USD = "price_…" }}.'
        )
    for currency in stripe:
        if currency not in dict(parsed_prices):
            raise PlanError(
                f"{where}.stripe_price.{currency}: add the same currency to {where}.price, "
                "so learners are shown what the card will be charged."
            )
    title = table.get("title", name)
    if not isinstance(title, str):
        raise PlanError(f"{where}.title must be text.")
    return Plan(
        name, title, tuple(parsed_prices), period_days, covered, free_lessons, grace_days, tuple(stripe.items())
    )


def _whole(value: Any, key: str, *, minimum: int, required: bool = False) -> int:
    if value is None and required:
        raise PlanError(f"{key} is required (a whole number of days).")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PlanError(f"{key} must be a whole number of at least {minimum}, got {value!r}.")
    return value


def format_amount(amount_minor: int, currency: str) -> str:
    """20000, 'KES' → 'KES 200'; 250, 'USD' → 'USD 2.50'. Integer arithmetic only."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amounts are integers in minor units")
    exponent = EXPONENTS.get(currency, 2)
    if exponent == 0:
        return f"{currency} {amount_minor:,}"
    major, minor = divmod(abs(amount_minor), 10**exponent)
    sign = "-" if amount_minor < 0 else ""
    if minor == 0 and currency == "KES":
        return f"{currency} {sign}{major:,}"  # shillings are quoted without cents everywhere in Kenya
    return f"{currency} {sign}{major:,}.{minor:0{exponent}d}"


def currency_for_region(region: str | None, plan: Plan) -> str:
    """The learner's currency for this plan: their country's when the plan has a price in it, else the first."""
    wanted = REGION_CURRENCY.get(region or "")
    return wanted if wanted and plan.price(wanted) is not None else plan.prices[0][0]
