"""The cost ledger's edges: category and estimate when a message is stored or sent, the budget hold, actual prices."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from coachbox.channels.base import ChannelError, Inbound
from coachbox.channels.buttons import window_template_key
from coachbox.content.rates import load_rate_card
from coachbox.core.config import template_category
from coachbox.core.costs import (
    MICROS_PER_USD,
    PROVIDERS,
    BudgetState,
    Cost,
    RateCard,
    RateCardError,
    actual_from_pricing,
    estimate,
    market_of,
    outbound_category,
    refused_cost,
    usd_to_micros,
)
from coachbox.core.services import Services
from coachbox.store import costs as store
from coachbox.store import transaction

log = logging.getLogger("coachbox.costs")

# Twilio fills a message's price some minutes after its final status: ask no sooner, and again no more often than
# this; a row still unpriced a week after its last status is given up on (the estimate stands).
PRICE_SETTLE = timedelta(minutes=5)
PRICE_RETRY = timedelta(minutes=30)
SENT_IS_FINAL_AFTER = timedelta(days=1)
PRICE_GIVE_UP = timedelta(days=7)
_warned: set[str] = set()


def rate_card(settings) -> RateCard | None:
    """The rate card, or None (logged once per problem) when it cannot be read: a broken card must never stop a
    learner's message; `coachbox check` reports it."""
    try:
        return load_rate_card(settings)
    except RateCardError as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            log.error("rate card unusable: messages are not costed until it is fixed", extra={"error": str(exc)})
        return None


def _provider(settings, channel: str) -> str | None:
    """The billing provider of a message on `channel` (whatsapp rows only: SMS is priced differently, not here)."""
    kind = settings.channel_kind
    return kind if channel == "whatsapp" and kind in PROVIDERS else None


def inbound_cost(settings, inbound: Inbound) -> Cost | None:
    """What receiving `inbound` costs: only the provider's fee (Twilio $0.005, Meta nothing); None when not billed."""
    provider = _provider(settings, inbound.channel)
    card = rate_card(settings) if provider else None
    if provider is None or card is None:
        return None
    market = market_of(inbound.phone) or market_of(inbound.address)
    return Cost(market, "free", estimate(card, provider, market, "in", "free") or 0)


def template_entry(settings, key: str | None) -> object:
    if not key:
        return None
    templates = settings.meta.templates if settings.channel_kind == "meta" else settings.twilio.templates
    return templates.get(key)


def outbound_cost(settings, channel: str, address: str, template_key: str | None) -> Cost | None:
    """What one send costs: a template (`template_key`, the key it went by) at its declared category, anything else
    (inside the 24-hour window) as a service message; None when not billed."""
    provider = _provider(settings, channel)
    card = rate_card(settings) if provider else None
    if provider is None or card is None:
        return None
    declared = template_category(template_entry(settings, template_key)) if template_key else None
    category = outbound_category(declared, is_template=template_key is not None)
    market = market_of(address)
    return Cost(market, category, estimate(card, provider, market, "out", category) or 0)


def refused_micros(settings) -> int:
    """What a send WhatsApp refused outside the window (63016/131047) costs on this channel."""
    card = rate_card(settings) if settings.channel_kind in PROVIDERS else None
    return refused_cost(card, settings.channel_kind) if card else 0


# -- the monthly budget -----------------------------------------------------------------------------------------------
def month_bounds(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """[first local midnight of `now`'s month, the next month's) in UTC (the Costs page's month)."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    following = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), following.astimezone(UTC)


def budget_state(conn: sqlite3.Connection, settings, now: datetime) -> BudgetState:
    """Month-to-date spending (actual where known, else estimate) against [costs] monthly_budget_usd."""
    budget = round(settings.costs.monthly_budget_usd * MICROS_PER_USD)
    if budget <= 0:
        return BudgetState(0, 0)
    start, stop = month_bounds(now, settings.org.default_timezone)
    return BudgetState(store.spent_between(conn, start.isoformat(), stop.isoformat()), budget)


# -- actual prices ----------------------------------------------------------------------------------------------------
def price_micros(price: str | None, unit: str | None) -> int | None:
    """Twilio's price ("-0.00900", "USD") in micros; None when not priced yet or not in US dollars."""
    if price in (None, ""):
        return None
    if (unit or "USD").upper() != "USD":
        return None
    try:
        return usd_to_micros(price)
    except ValueError:
        return None


def settle_meta_pricing(conn: sqlite3.Connection, card: RateCard, now: datetime, *, limit: int = 500) -> int:
    """Meta's status pricing (category, billable) → cost_actual_micros through the rate card; returns rows priced."""
    since = (now - PRICE_GIVE_UP).isoformat()
    with transaction(conn):
        rows = store.meta_priced(conn, since=since, limit=limit)
        for row in rows:
            billable = None if row["pricing_billable"] is None else bool(row["pricing_billable"])
            micros = actual_from_pricing(card, "meta", row["market"], row["pricing_category"], billable)
            store.record_actual(conn, row["id"], micros, now.isoformat())
    return len(rows)


async def fetch_twilio_prices(services: Services, *, limit: int | None = None) -> int:
    """Ask Twilio the price of up to `limit` ([costs] price_lookups_per_minute) finally-settled rows; returns how
    many got an actual figure. A failed look-up is tried again later; nothing else depends on it."""
    settings = services.settings
    limit = settings.costs.price_lookups_per_minute if limit is None else limit
    fetch = getattr(services.channel, "fetch_price", None)
    if settings.channel_kind != "twilio" or limit <= 0 or fetch is None:
        return 0
    now = services.clock.now()
    rows = await services.db.run(
        _unpriced,
        (now - PRICE_SETTLE).isoformat(),
        (now - SENT_IS_FINAL_AFTER).isoformat(),
        (now - PRICE_RETRY).isoformat(),
        (now - PRICE_GIVE_UP).isoformat(),
        limit,
    )
    priced = 0
    for row in rows:
        try:
            price, unit = await fetch(row["provider_sid"])
        except ChannelError as exc:
            log.info(
                "Twilio price look-up failed; asked again later", extra={"message_id": row["id"], "error": str(exc)}
            )
            micros = None
        else:
            micros = price_micros(price, unit)
            if price and micros is None:
                log.warning(
                    "Twilio priced a message in a currency other than US dollars; the estimate stands",
                    extra={"message_id": row["id"], "price": price, "unit": unit},
                )
        await services.db.run(_record, row["id"], micros, services.clock.now().isoformat())
        priced += micros is not None
    return priced


def _unpriced(conn, settled: str, stale_sent: str, checked: str, since: str, limit: int) -> list[sqlite3.Row]:
    return store.unpriced_twilio(
        conn, settled_before=settled, stale_sent_before=stale_sent, checked_before=checked, since=since, limit=limit
    )


def _record(conn, message_id: int, micros: int | None, now: str) -> None:
    with transaction(conn):
        store.record_actual(conn, message_id, micros, now)


def _template_ref(settings, key: str) -> str | None:
    """What a send carries for template `key`: its Twilio Content SID, or its Meta template name."""
    entry = template_entry(settings, key)
    if isinstance(entry, dict):
        entry = entry.get("name" if settings.channel_kind == "meta" else "sid")
    return str(entry) if entry else None


def backfill_estimates(conn: sqlite3.Connection, settings, now: datetime, *, limit: int = 500) -> int:
    """Estimates for rows marked sent without going through the send (a look-up found them at the provider, a
    reconcile settled a crashed sender's claim): a row carrying its window template's content is a template."""
    if settings.channel_kind not in PROVIDERS or rate_card(settings) is None:
        return 0
    with transaction(conn):
        rows = store.uncosted_sent(conn, since=(now - PRICE_GIVE_UP).isoformat(), limit=limit)
        for row in rows:
            key = window_template_key(row["template_key"], row["kind"])
            as_template = bool(row["use_template"]) or (
                row["content_sid"] is not None and row["content_sid"] == _template_ref(settings, key)
            )
            cost = outbound_cost(settings, row["channel"], row["address"], key if as_template else None)
            if cost is not None:
                store.record_estimate(conn, row["id"], cost.market, cost.category, cost.estimate_micros)
    return len(rows)


async def reconcile_costs(services: Services) -> int:
    """One run of the ledger's periodic job: estimates a send did not write, then Meta's pricing and Twilio's prices
    into cost_actual_micros."""
    settings = services.settings
    card = rate_card(settings)
    settled = 0
    await services.db.run(backfill_estimates, settings, services.clock.now())
    if card is not None and settings.channel_kind == "meta":
        settled += await services.db.run(settle_meta_pricing, card, services.clock.now())
    settled += await fetch_twilio_prices(services)
    return settled
