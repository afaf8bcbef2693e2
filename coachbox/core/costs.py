"""What a message costs: the rate card as frozen data and pure estimate/budget rules, in micros (1e-6 USD)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from coachbox.core.errors import UserError

MICROS_PER_USD = 1_000_000

# What we expect to be billed for a message. `service` is a free-form message inside the 24-hour window: free
# under Meta's per-message pricing until 30 Sep 2026, billed at the market's utility rate since 1 Oct 2026 (issue
# #19); the rate card's `service_billed_as` says which. `free` is never billed by WhatsApp (an inbound message,
# a free-entry-point reply); the provider's own fee may still apply.
CATEGORIES = ("service", "utility", "marketing", "authentication", "free")
TEMPLATE_CATEGORIES = ("utility", "marketing", "authentication")
BILLED_CATEGORIES = ("utility", "marketing", "authentication")
PROVIDERS = ("twilio", "meta")
DEFAULT_MARKET = "*"  # the rest-of-world row of a rate card

# Proactive kinds a budget stop may hold. Lessons, quiz follow-ups, replies, certificates and payments continue.
NON_ESSENTIAL_KINDS = frozenset({"broadcast", "reminder"})
BUDGET_WARNING_SHARE = 0.8

_MARKET = re.compile(r"^(?:[A-Z]{2}|\*)$")


@dataclass(frozen=True)
class Cost:
    """One message's ledger entry as written with its row: the learner's market, the category, the estimate."""

    market: str | None
    category: str
    estimate_micros: int


class RateCardError(UserError):
    """A rate card that cannot be used; the message names the file, the key and (where known) the line."""


@dataclass(frozen=True)
class ProviderFees:
    """What the provider (not WhatsApp) charges per message; micros."""

    inbound_micros: int = 0
    outbound_micros: int = 0
    refused_micros: int = 0  # a message WhatsApp refused (Twilio 63016 outside the window)


@dataclass(frozen=True)
class RateCard:
    """WhatsApp's price per market and category plus each provider's fee. `rates[market][category]` in micros;
    `rates["*"]` is the rest-of-world default."""

    source: str
    effective: str
    rates: Mapping[str, Mapping[str, int]]
    providers: Mapping[str, ProviderFees]
    service_billed_as: str = "utility"  # "free" before 1 Oct 2026, "utility" since (issue #19)
    currency: str = "USD"
    notes: Mapping[str, str] = field(default_factory=dict)

    def whatsapp_rate(self, market: str | None, category: str) -> int:
        """WhatsApp's own price for one message of `category` in `market` (unknown market: the default row)."""
        if category == "service":
            category = self.service_billed_as
        if category == "free":
            return 0
        row = self.rates.get((market or "").upper()) or self.rates.get(DEFAULT_MARKET) or {}
        if category not in row:
            row = self.rates.get(DEFAULT_MARKET) or {}
        return int(row.get(category, 0))

    def fees(self, channel_kind: str) -> ProviderFees:
        return self.providers.get(channel_kind, ProviderFees())


def estimate(card: RateCard, channel_kind: str, market: str | None, direction: str, category: str) -> int | None:
    """Estimated cost of one message in micros: WhatsApp's price (outbound only) plus the provider's fee in that
    direction. None for the simulator (and any channel that is not a provider): nothing is billed."""
    if channel_kind not in PROVIDERS:
        return None
    fees = card.fees(channel_kind)
    if direction == "in":
        return fees.inbound_micros
    return card.whatsapp_rate(market, category) + fees.outbound_micros


def refused_cost(card: RateCard, channel_kind: str) -> int:
    """What one refused send (63016: outside the window) costs, in micros."""
    return card.fees(channel_kind).refused_micros if channel_kind in PROVIDERS else 0


def actual_from_pricing(
    card: RateCard, channel_kind: str, market: str | None, category: str | None, billable: bool | None
) -> int | None:
    """Meta's status `pricing` block turned into micros through the rate card: Meta says the category and whether
    it is billable, not the amount. None when Meta said nothing."""
    if category is None and billable is None:
        return None
    fee = card.fees(channel_kind).outbound_micros if channel_kind in PROVIDERS else 0
    if billable is False:
        return fee
    name = (category or "utility").lower()
    if name not in CATEGORIES:  # referral_conversion, free_entry_point…: not billed by WhatsApp
        return fee
    return card.whatsapp_rate(market, name) + fee


def outbound_category(template_category: str | None, *, is_template: bool) -> str:
    """A free-form message (inside the window) is `service`; a template is billed as declared (utility when the
    operator declared nothing)."""
    if not is_template:
        return "service"
    return template_category if template_category in TEMPLATE_CATEGORIES else "utility"


def usd_to_micros(value: float | int | str) -> int:
    """$0.0040 → 4000; Twilio's prices are negative strings ('-0.00500'): the magnitude counts."""
    return abs(round(float(value) * MICROS_PER_USD))


def format_usd(micros: int | None, places: int = 2) -> str:
    """4000 → '$0.00'; 1_950_000 → '$1.95'; None → '–'."""
    if micros is None:
        return "–"
    return f"${micros / MICROS_PER_USD:,.{places}f}"


def market_of(address: str | None) -> str | None:
    """'whatsapp:+254712345678' → 'KE'; None for a BSUID, a simulator address or anything not a phone number.

    Every message in and out asks. Most country codes belong to one market (+254 is Kenya): that is a dictionary
    look-up. Only shared codes (+1, +7, +44…) need a full parse, cached per number (issue #15: a per-message parse
    was 5 % of a turn's CPU, as the old 4,096-entry cache missed every time beyond ~2,000 learners)."""
    if not address:
        return None
    number = address.split(":", 1)[1] if address.startswith(("whatsapp:", "sms:")) else address
    if not number.startswith("+"):
        return None
    digits = number[1:]
    if digits.isdigit() and len(digits) >= 8 and (region := single_region(digits)):
        return region
    return _parsed_market(number)


def single_region(digits: str) -> str | None:
    """The region of an E.164 number's digits when its country code belongs to one region only (254: KE); None for
    shared codes (+1, +7, +44…), which need a full parse."""
    return _code_region(digits[:3])


@functools.cache
def _code_region(prefix: str) -> str | None:
    """single_region() of a number's first three digits, all it reads (a country code has at most three): looked
    up once per prefix (1,000 at most), not once per message or learner."""
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(prefix[:length]))
        if regions:
            return regions[0] if len(regions) == 1 and regions[0] != "001" else None
    return None


@functools.lru_cache(maxsize=16384)
def _parsed_market(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    return region if region and region != "ZZ" else None


# Budget ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetState:
    """Month-to-date spending against the monthly budget (0 = none)."""

    spent_micros: int
    budget_micros: int

    @property
    def share(self) -> float | None:
        return self.spent_micros / self.budget_micros if self.budget_micros > 0 else None

    @property
    def warning(self) -> bool:
        share = self.share
        return share is not None and share >= BUDGET_WARNING_SHARE

    @property
    def exhausted(self) -> bool:
        share = self.share
        return share is not None and share >= 1.0

    @property
    def level(self) -> str:
        """'none' (no budget) | 'ok' | 'warning' (≥ 80 %) | 'exhausted' (≥ 100 %)."""
        if self.budget_micros <= 0:
            return "none"
        return "exhausted" if self.exhausted else "warning" if self.warning else "ok"


def must_hold(kind: str, state: BudgetState, stop_at_budget: bool) -> bool:
    """A proactive message of `kind` waits (status 'held') when the budget is spent and the operator asked to stop
    non-essential messages; lessons, quizzes, replies and everything a learner asked for continue."""
    return stop_at_budget and state.exhausted and kind in NON_ESSENTIAL_KINDS


# Parsing ------------------------------------------------------------------------------------------------------


def _money(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RateCardError(f"{where}: {value!r} is not a price in US dollars; write a number such as 0.0040.")
    if value < 0:
        raise RateCardError(f"{where}: {value!r} is negative; prices are written as positive US dollars.")
    return usd_to_micros(value)


def parse_rate_card(data: Mapping[str, Any], where: str) -> RateCard:
    """A rate card from TOML data; `where` is the file name used in errors. Layout:

    source = "…"; effective = "2026-07-01"; service_billed_as = "utility"
    [providers.twilio] inbound = 0.005, outbound = 0.005, refused = 0.001
    [markets.KE] utility = 0.0040, marketing = 0.0225, authentication = …
    [markets."*"] …  (rest of world)
    """
    for key in ("source", "effective"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise RateCardError(f"{where}: `{key}` is missing; say where the figures come from and since when.")
    service = data.get("service_billed_as", "utility")
    if service not in ("utility", "free"):
        raise RateCardError(f'{where}: service_billed_as = {service!r}; write "utility" or "free".')
    currency = data.get("currency", "USD")
    if currency != "USD":
        raise RateCardError(f'{where}: currency = {currency!r}; rate cards are in US dollars ("USD").')
    markets = data.get("markets")
    if not isinstance(markets, Mapping) or not markets:
        raise RateCardError(f'{where}: no [markets.<country>] tables; add at least [markets."*"] (rest of world).')
    rates: dict[str, dict[str, int]] = {}
    for market, row in markets.items():
        if not _MARKET.match(str(market)):
            raise RateCardError(
                f'{where}: markets.{market} ([markets.{market}]) is not a two-letter country code (KE, NG…) or "*" '
                "(rest of world)."
            )
        if not isinstance(row, Mapping):
            raise RateCardError(f"{where}: markets.{market} must be a table of category = price.")
        parsed: dict[str, int] = {}
        for category, price in row.items():
            if category not in BILLED_CATEGORIES:
                raise RateCardError(
                    f"{where}: markets.{market}.{category} is not a category; use {', '.join(BILLED_CATEGORIES)}."
                )
            parsed[category] = _money(price, f"{where}: markets.{market}.{category}")
        rates[str(market)] = parsed
    if DEFAULT_MARKET not in rates:
        raise RateCardError(f'{where}: [markets."*"] (rest of world) is missing; unknown countries need a price.')
    providers: dict[str, ProviderFees] = {}
    raw_providers = data.get("providers", {})
    if not isinstance(raw_providers, Mapping):
        raise RateCardError(f"{where}: providers must be tables such as [providers.twilio].")
    for name, fees in raw_providers.items():
        if name not in PROVIDERS:
            raise RateCardError(f"{where}: [providers.{name}] is not a provider; use {', '.join(PROVIDERS)}.")
        if not isinstance(fees, Mapping):
            raise RateCardError(f"{where}: providers.{name} must be a table (inbound, outbound, refused).")
        unknown = set(fees) - {"inbound", "outbound", "refused"}
        if unknown:
            raise RateCardError(
                f"{where}: providers.{name}.{sorted(unknown)[0]} is not a fee; use inbound, outbound, refused."
            )
        providers[name] = ProviderFees(
            inbound_micros=_money(fees.get("inbound", 0), f"{where}: providers.{name}.inbound"),
            outbound_micros=_money(fees.get("outbound", 0), f"{where}: providers.{name}.outbound"),
            refused_micros=_money(fees.get("refused", 0), f"{where}: providers.{name}.refused"),
        )
    notes = data.get("notes", {})
    return RateCard(
        source=data["source"].strip(),
        effective=data["effective"].strip(),
        rates=rates,
        providers=providers,
        service_billed_as=service,
        notes={str(k): str(v) for k, v in notes.items()} if isinstance(notes, Mapping) else {},
    )


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Rate-card data with an operator's overrides laid over it, table by table (a key set replaces one figure)."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
