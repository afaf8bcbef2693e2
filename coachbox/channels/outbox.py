"""The outbox sender: claims due rows (compare-and-set), applies the 24-hour rule and the rate cap, records outcomes.

Reconciling claims that may have reached Twilio is in reconcile.py, the drainers (web Sender, worker drain) in
sender.py. Splitting long bodies is content.markup's (one splitter, one MESSAGE_LIMIT)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coachbox.channels import buttons, clock_skew
from coachbox.channels.base import ChannelError, Outbound
from coachbox.channels.costs import budget_state, outbound_cost, refused_micros
from coachbox.channels.meta import errors as meta_errors
from coachbox.channels.meta.interactive import interactive_payload
from coachbox.channels.pacing import pause_sending, paused_until, reserve_slots
from coachbox.channels.reconcile import claimer_id, lookup
from coachbox.channels.signed_urls import media_secret, signed_media_url
from coachbox.channels.twilio import errors
from coachbox.core import events
from coachbox.core.costs import NON_ESSENTIAL_KINDS, format_usd, must_hold
from coachbox.core.services import Services
from coachbox.learning import timing
from coachbox.store import messages, transaction

log = logging.getLogger("coachbox.outbox")

WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window after the learner's last message
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
# After a failure that may have reached Twilio (timeout, dropped connection, 5xx), the row is looked up at Twilio
# before any resend, and not sooner than this: a request Twilio is still processing (or whose answer is still in
# some buffer) only shows in its records, or comes back as a ?m= status callback, a little later.
UNSURE_SETTLE_SECONDS = 30.0
# Failures that prove Twilio did not take the message: these are resent without a lookup.
NOT_TAKEN = frozenset({"network", "20429", "20003", errors.WINDOW_CLOSED, *meta_errors.NOT_TAKEN})
WINDOW_CLOSED = frozenset({errors.WINDOW_CLOSED, meta_errors.WINDOW_CLOSED})  # Twilio's 63016, Meta's 131047
# Answers that pause every send for a while (the sender's whole throughput, not one learner's): Twilio's 429 and
# Meta's 130429 (the phone number's messages per second).
PAUSE_ALL = frozenset({"20429", "130429"})


def describe(settings, code: str | None) -> str:
    """The configured channel's words for one of its error codes (for the row's error message and the admin)."""
    return meta_errors.describe(code) if settings.channel_kind == "meta" else errors.describe(code)


# A send that has confirmed its claim waits out pauses for at most this long, then hands the row back: the claim
# must stay far from looking stale to a reconcile (STALE_CLAIM_SECONDS), or the row could be sent twice.
PAUSED_SEND_MAX_WAIT_SECONDS = 30.0
# Quiet hours ([schedule]) hold and STOP cancels only what the box starts on its own (rows written `proactive`);
# how a held row is marked (HELD) and the per-learner order that never keeps an answer behind a held row sit with
# the claim's SQL in store.messages.


# -- rows ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Row:
    id: int
    learner_id: int | None
    channel: str
    address: str
    body: str
    media: tuple[str, ...]
    kind: str
    template_key: str | None
    content_variables: str | None
    attempts: int
    created_at: datetime
    error_code: str | None
    use_template: bool
    last_inbound_at: datetime | None
    opted_out: bool
    proactive: bool = False  # the box started it on its own (not an answer): quiet hours hold it, STOP cancels it
    idempotency_key: str | None = None
    claimed_at: str = ""  # our claim's stamp: the compare-and-set token for confirming the claim before sending

    @property
    def window_opened_at(self) -> datetime | None:
        """When the learner last opened WhatsApp's 24-hour window, as far as this row knows. A row written by the
        turn on the learner's own message ("in:…" key) answers that message, so its window opened no later than
        the row was written, even when the learner row no longer says so (DELETE clears last_inbound_at)."""
        if (self.idempotency_key or "").startswith("in:"):
            return max(self.last_inbound_at or self.created_at, self.created_at)
        return self.last_inbound_at

    @property
    def unsure(self) -> bool:
        """Did an earlier attempt end in a way that may have reached Twilio? Then it is looked up first."""
        return self.attempts > 0 and self.error_code not in NOT_TAKEN

    @classmethod
    def of(cls, row: sqlite3.Row, claimed_at: str = "") -> _Row:
        return cls(
            id=row["id"],
            learner_id=row["learner_id"],
            channel=row["channel"],
            address=row["address"],
            body=row["body"],
            media=tuple(json.loads(row["media"] or "[]")),
            kind=row["kind"],
            template_key=row["template_key"],
            content_variables=row["content_variables"],
            attempts=row["attempts"],
            created_at=datetime.fromisoformat(row["created_at"]),
            error_code=row["error_code"],
            use_template=bool(row["use_template"]),
            last_inbound_at=datetime.fromisoformat(row["last_inbound_at"]) if row["last_inbound_at"] else None,
            opted_out=bool(row["opted_out"]),
            proactive=bool(row["proactive"]),
            idempotency_key=row["idempotency_key"],
            claimed_at=claimed_at,
        )


def _claim_due(
    conn: sqlite3.Connection,
    now: str,
    limit: int,
    claimer: str,
    hold: Callable[[sqlite3.Row], datetime | None] = lambda row: None,
    budget: Callable[[sqlite3.Connection], tuple[datetime, str] | None] | None = None,
) -> tuple[list[_Row], int]:
    """Claim up to `limit` due rows: at most one per learner per call, earliest first, so parts stay in order.

    `hold(row)` says until when a row must wait (quiet hours): such a row is not claimed, only moved on, and
    counted in the second item. A held row does not keep an answer to the learner behind it (messages.due_outbound).
    `budget(conn)`: (until, why) when the monthly budget holds broadcasts and reminders, asked once per claim and
    only when one is due."""
    with transaction(conn):
        candidates = messages.due_outbound(conn, now, limit)
        claimed, held = [], 0
        asked, budget_hold = False, None
        for row in candidates:
            if budget is not None and row["proactive"] and row["kind"] in NON_ESSENTIAL_KINDS:
                if not asked:
                    asked, budget_hold = True, budget(conn)
                if budget_hold is not None:
                    until_budget, why = budget_hold
                    messages.hold_outbound(conn, row["id"], until_budget.isoformat(), why, now, code=messages.BUDGET)
                    log.info("outbox held for the monthly budget", extra={"message_id": row["id"], "kind": row["kind"]})
                    held += 1
                    continue
            until = hold(row)
            if until is not None:
                messages.hold_outbound(
                    conn,
                    row["id"],
                    until.isoformat(),
                    f"held for the learner's quiet hours until "
                    f"{until.astimezone(timing.zone(row['timezone'] or 'UTC')):%H:%M} local time",
                    now,
                )
                held += 1
                continue
            # Compare-and-set: only the process whose UPDATE changed the row sends it.
            if messages.claim_outbound(conn, row["id"], claimer, now):
                claimed.append(_Row.of(row, now))
        return claimed, held


def _confirm_claims(conn: sqlite3.Connection, items: list[tuple[int, str, str, str]]) -> list[bool]:
    """messages.confirm_claim for several sends at once (one transaction): [(message_id, claimer, claimed_at, now)]."""
    with transaction(conn):
        return [messages.confirm_claim(conn, *item) for item in items]


def _mark_sent_many(conn: sqlite3.Connection, items: list[tuple]) -> list[None]:
    """messages.mark_sent for several sends at once (one transaction): [(message_id, sid, content_sid, now, cost,
    refused_micros)]."""
    with transaction(conn):
        for item in items:
            messages.mark_sent(conn, *item)
    return [None] * len(items)  # Coalesced hands each caller its own result


def opt_out_learner(conn: sqlite3.Connection, learner_id: int | None, now: str, opted_out: bool = True) -> None:
    if learner_id is not None:
        conn.execute(
            "UPDATE learners SET opted_out = ?, updated_at = ? WHERE id = ?", (int(opted_out), now, learner_id)
        )


def _fail(conn: sqlite3.Connection, row: _Row, code: str | None, reason: str, now: str) -> None:
    with transaction(conn):
        messages.finish_claim(conn, row.id, "failed", now, code=code, reason=reason)
        if code == errors.UNSUBSCRIBED:
            opt_out_learner(conn, row.learner_id, now)


# -- deciding what to send --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    action: str  # send | wait | cancel
    outbound: Outbound | None = None
    reason: str = ""


def template_sid(settings, key: str | None) -> str | None:
    """[twilio.templates] entry: a plain "HX…" string or a table with a sid key; on Meta, the [meta.templates]
    template's name (a plain string or a table with a name key)."""
    if not key:
        return None
    if settings.channel_kind == "meta":
        return meta_template(settings, key)[0]
    entry = settings.twilio.templates.get(key)
    if isinstance(entry, dict):
        entry = entry.get("sid")
    return entry or None


def meta_template(settings, key: str) -> tuple[str | None, str]:
    """([meta.templates] name for `key`, its language code: the entry's, else [org] default_language)."""
    entry = settings.meta.templates.get(key)
    language = settings.org.default_language
    if isinstance(entry, dict):
        language = str(entry.get("language") or language)
        entry = entry.get("name")
    return (str(entry) if entry else None), language


META_HEADER_MEDIA = ("document", "image", "video")


def meta_template_payload(
    name: str, language: str, variables: str | None, *, header: str | None = None, media_urls: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A Cloud API template message: its body parameters in order ({"1": …, "2": …} as the row keeps them), and the
    message's first media as the header when the [meta.templates] entry says the template has one
    (header = "document" for a certificate template with the PDF)."""
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    components: list[dict[str, Any]] = []
    if header in META_HEADER_MEDIA and media_urls:
        media: dict[str, str] = {"link": media_urls[0]}
        if header == "document":
            media["filename"] = media_urls[0].split("?")[0].rsplit("/", 1)[-1]
        components.append({"type": "header", "parameters": [{"type": header, header: media}]})
    try:
        values = json.loads(variables) if variables else {}
    except ValueError:
        values = {}
    if isinstance(values, dict) and values:
        ordered = [str(values[k]) for k in sorted(values, key=lambda k: int(k) if str(k).isdigit() else 0)]
        components.append({"type": "body", "parameters": [{"type": "text", "text": v} for v in ordered]})
    if components:
        template["components"] = components
    return {"type": "template", "template": template}


def plan(row: _Row, settings, now: datetime, media_urls: tuple[str, ...]) -> _Plan:
    """Pure decision for one claimed row: free-form, template, wait for the window, or cancel."""
    if row.opted_out and row.proactive:
        # STOP stops what the box starts; an answer still goes (the goodbye after DELETE, the reply to STOP itself).
        return _Plan("cancel", reason="the learner opted out (STOP)")
    callback = f"{settings.server.public_url.rstrip('/')}/webhooks/twilio/status?m={row.id}"
    base: dict[str, Any] = dict(message_id=row.id, address=row.address, media_urls=media_urls, status_callback=callback)
    whatsapp = row.address.startswith("whatsapp:")
    opened = row.window_opened_at
    in_window = opened is not None and now - opened < WINDOW
    if settings.channel_kind == "meta" and whatsapp:
        return _plan_meta(row, settings, in_window, base)
    if whatsapp and in_window and not row.use_template and buttons.is_quick_reply(row.template_key):
        # Quick-reply buttons go as their Content template inside the window too; unconfigured since the row
        # was written: its body has the numbered options, sent as free-form text.
        sid = template_sid(settings, row.template_key)
        return _Plan(
            "send",
            Outbound(body=row.body, content_sid=sid, content_variables=row.content_variables, **base)
            if sid
            else Outbound(body=row.body, **base),
        )
    if whatsapp and (row.use_template or not in_window):
        key = buttons.window_template_key(row.template_key, row.kind)
        sid = template_sid(settings, key)
        if sid is None:
            # Kept, not lost: the admin pages show why; it goes out when the learner writes (webhooks), and a nudge
            # is settled by the turn on that message instead (the held lesson itself is sent then).
            return _Plan(
                "wait",
                reason="waiting for the learner to write (no template configured: outside the 24-hour "
                f"window and no [twilio.templates] entry for '{key}')",
            )
        return _Plan("send", Outbound(body=row.body, content_sid=sid, content_variables=row.content_variables, **base))
    return _Plan("send", Outbound(body=row.body, **base))


def _plan_meta(row: _Row, settings, in_window: bool, base: dict[str, Any]) -> _Plan:
    """plan() on Meta's Cloud API: interactive buttons or a list inside the window, a [meta.templates] template
    outside it (or after a 131047), else wait for the learner to write."""
    if in_window and not row.use_template:
        native = None
        if buttons.is_quick_reply(row.template_key) and not base["media_urls"]:
            native = interactive_payload(row.body, row.content_variables)  # None beyond the limits: numbered text
        return _Plan("send", Outbound(body=row.body, native=native, **base))
    key = buttons.window_template_key(row.template_key, row.kind)
    name, language = meta_template(settings, key)
    if name is None:
        return _Plan(
            "wait",
            reason="waiting for the learner to write (no template configured: outside the 24-hour "
            f"window and no [meta.templates] entry for '{key}')",
        )
    entry = settings.meta.templates.get(key)
    header = entry.get("header") if isinstance(entry, dict) else None
    native = meta_template_payload(name, language, row.content_variables, header=header, media_urls=base["media_urls"])
    return _Plan(
        "send",
        Outbound(body=row.body, content_sid=name, content_variables=row.content_variables, native=native, **base),
    )


def backoff_seconds(attempts: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in its upper half, never sooner than Twilio's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay = ceiling * (0.5 + 0.5 * (rng or random).random())
    return max(delay, retry_after or 0.0)


# -- the send loop ----------------------------------------------------------------------------------------------------
FRESH_CLAIM_SECONDS = 10.0  # a claim younger than this is sent unconfirmed: far below reconcile's 120 s
CONFIRM_LEAD_SECONDS = 0.05  # confirm a claim this long before its slot, so the writer's latency does not bunch sends


@dataclass(frozen=True)
class _Writes:
    """A batch's small writes, coalesced: sends due at the same moment share one writer trip and one commit."""

    confirm: Any
    mark_sent: Any

    @classmethod
    def on(cls, db) -> _Writes:
        return cls(db.coalesce(_confirm_claims), db.coalesce(_mark_sent_many))


async def _media_urls(services: Services, row: _Row) -> tuple[str, ...]:
    if not row.media:
        return ()
    secret = await media_secret(services)
    expires = services.clock.now() + timedelta(days=2)  # Twilio fetches at once; WhatsApp may re-fetch later
    return tuple(signed_media_url(services.settings, secret, path, expires) for path in row.media)


def quiet_hold(settings, now: datetime) -> Callable[[sqlite3.Row], datetime | None]:
    """For the claim: until when a due proactive row waits, in its learner's time zone (None: send it now).
    Only what the box starts on its own waits; an answer to a person never does."""
    quiet = timing.QuietHours.of(settings.schedule.quiet_hours_start, settings.schedule.quiet_hours_end)
    default_tz = settings.org.default_timezone

    def hold(row: sqlite3.Row) -> datetime | None:
        if not row["proactive"]:
            return None
        allowed = quiet.next_allowed(now, row["timezone"] or default_tz)
        return allowed if allowed > now else None

    return hold


BUDGET_RECHECK = timedelta(hours=1)  # a row held for the budget is looked at again this often (a raised budget)


def budget_hold(settings, now: datetime) -> Callable[[sqlite3.Connection], tuple[datetime, str] | None] | None:
    """For the claim: with [costs] stop_proactive_at_budget and a budget, (until, why) while the month's budget is
    spent; broadcasts and reminders wait (status queued, marked 'budget'), nothing is lost. None: no stop set."""
    if not settings.costs.stop_proactive_at_budget or settings.costs.monthly_budget_usd <= 0:
        return None

    def check(conn: sqlite3.Connection) -> tuple[datetime, str] | None:
        state = budget_state(conn, settings, now)
        # Any kind in NON_ESSENTIAL_KINDS gives the same answer: the caller only asks for those.
        if not must_hold(next(iter(NON_ESSENTIAL_KINDS)), state, True):
            return None
        log.warning(
            "monthly messaging budget spent: broadcasts and reminders held",
            extra={"spent": format_usd(state.spent_micros), "budget": format_usd(state.budget_micros)},
        )
        why = (
            f"held: this month's messaging budget is spent ({format_usd(state.spent_micros)} of "
            f"{format_usd(state.budget_micros)}, [costs] monthly_budget_usd); it goes when the month turns or the "
            "budget is raised"
        )
        return now + BUDGET_RECHECK, why

    return check


async def deliver_due(services: Services, *, limit: int = 100) -> int:
    """Send what is due now; returns how many rows were claimed or held (0 = nothing due)."""
    settings = services.settings
    rate = settings.messages_per_second  # the configured channel's cap
    # Claim about one second's worth: a claim held while waiting for a rate slot delays other processes' replies.
    batch = max(1, min(limit, math.ceil(rate)))
    now = services.clock.now()
    claimer = claimer_id()
    rows, held = await services.db.run(
        _claim_due, now.isoformat(), batch, claimer, quiet_hold(settings, now), budget_hold(settings, now)
    )
    if not rows:
        return held
    plans = [(row, plan(row, settings, now, await _media_urls(services, row))) for row in rows]
    sendable = [(row, p.outbound) for row, p in plans if p.action == "send" and p.outbound is not None]
    for row, p in plans:
        if p.action != "send":
            status = "waiting" if p.action == "wait" else "cancelled"
            await services.db.run(messages.finish_claim, row.id, status, now.isoformat(), reason=p.reason, uncount=True)
            log.info("outbox %s", status, extra={"message_id": row.id, "reason": p.reason})
    if sendable:
        first = reserve_slots(services.cache, len(sendable), rate)
        writes = _Writes.on(services.db)
        await asyncio.gather(
            *(
                _send_one(services, row, outbound, first + i / rate, claimer, writes)
                for i, (row, outbound) in enumerate(sendable)
            )
        )
    # Failures, waits and cancellations too (sent rows also published as each one committed, above).
    events.publish(services, "outbox", *{f"learner:{row.learner_id}" for row in rows})
    return len(rows) + held


async def _send_one(
    services: Services, row: _Row, outbound: Outbound, slot: float, claimer: str, writes: _Writes
) -> None:
    if row.unsure and await _already_at_twilio(services, row):
        return  # the last attempt may have reached Twilio, and it had: recorded as sent, not resent
    rate = services.settings.messages_per_second
    lead = slot - CONFIRM_LEAD_SECONDS - time.time()
    if lead > 0:
        await asyncio.sleep(lead)
    # Confirmed just before the slot, not at the claim: a reconcile elsewhere may have released the row while
    # it waited. After this the claim is fresh, so no reconcile can judge it stale before the request is out.
    # A claim made moments ago needs no confirming: a reconcile releases only claims older than
    # STALE_CLAIM_SECONDS (120 s). That saves a commit per send when replies go as they are written (issue #15).
    now = services.clock.now()
    fresh = (now - datetime.fromisoformat(row.claimed_at)).total_seconds() < FRESH_CLAIM_SECONDS
    if not fresh and not await writes.confirm((row.id, claimer, row.claimed_at, now.isoformat())):
        log.warning("outbox claim lost before sending; not sent by this sender", extra={"message_id": row.id})
        return
    if slot - time.time() < -0.5 / rate:
        # Woke up late (a busy loop, a slow first connection): sending now would bunch with the next slots
        # and break the cap for that second, so take a fresh slot instead.
        slot = reserve_slots(services.cache, 1, rate)
    delay = slot - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    if not await _wait_out_pause(services, row, rate):
        return
    try:
        result = await services.channel.send(outbound)
    except ChannelError as exc:
        await _record_failure(services, row, exc)
        return
    except Exception as exc:  # noqa: BLE001 - an unexpected bug must not leave the row 'sending' for 2 minutes
        log.exception("outbox send crashed", extra={"message_id": row.id})
        await _record_failure(services, row, ChannelError(repr(exc), code="timeout"))
        return
    now = services.clock.now()
    clock_skew.note(services.cache, result.provider_time, now)
    settings = services.settings
    window_key = buttons.window_template_key(row.template_key, row.kind)
    # A template went when its content is the window template's (a quick reply inside the window is a session
    # message, billed as service).
    as_template = outbound.content_sid is not None and outbound.content_sid == template_sid(settings, window_key)
    cost = outbound_cost(settings, row.channel, row.address, window_key if as_template else None)
    await writes.mark_sent(
        (row.id, result.provider_sid, outbound.content_sid, now.isoformat(), cost, refused_micros(settings))
    )
    events.publish(services, f"learner:{row.learner_id}", "outbox")  # committed: wake open admin pages


async def _wait_out_pause(services: Services, row: _Row, rate: float) -> bool:
    """Before a send: if some sender got a 429 meanwhile, wait for the pause to end and take a fresh slot after it.
    False (the row handed back, due when the pause ends) if pauses keep coming for too long."""
    waited_since = time.monotonic()
    while (until := paused_until(services.cache)) > time.time():
        if time.monotonic() - waited_since > PAUSED_SEND_MAX_WAIT_SECONDS:
            now = services.clock.now()
            due = (now + timedelta(seconds=until - time.time())).isoformat()
            await services.db.run(
                messages.finish_claim,
                row.id,
                "retry",
                now.isoformat(),
                code="20429",
                reason="sending paused: "
                + ("Meta answered 130429" if services.settings.channel_kind == "meta" else "Twilio answered 429"),
                next_attempt_at=due,
                uncount=True,
            )
            return False
        slot = reserve_slots(services.cache, 1, rate)  # after the pause: the bucket was pushed past it
        await asyncio.sleep(max(0.0, slot - time.time()))
    return True


async def _record_failure(services: Services, row: _Row, exc: ChannelError) -> None:
    settings = services.settings
    now = services.clock.now()
    stamp = now.isoformat()
    if exc.code in PAUSE_ALL:
        until = pause_sending(services.cache, exc.retry_after)
        log.warning(
            "the provider answered 429 (or Meta 130429): all sends pause",
            extra={"message_id": row.id, "seconds": round(until - time.time(), 1)},
        )
    if exc.permanent:
        if (
            exc.code in WINDOW_CLOSED
            and not row.use_template
            and template_sid(settings, buttons.window_template_key(row.template_key, row.kind))
        ):
            await services.db.run(
                messages.finish_claim,
                row.id,
                "queued",
                stamp,
                code=exc.code,
                reason=describe(settings, exc.code),
                next_attempt_at=stamp,
                use_template=True,
                uncount=True,
            )
            log.info(
                "outbox switching to template after the window closed (63016/131047)", extra={"message_id": row.id}
            )
            return
        await services.db.run(_fail, row, exc.code, f"{exc} {describe(settings, exc.code)}".strip(), stamp)
        log.warning("outbox send failed permanently", extra={"message_id": row.id, "code": exc.code, "error": str(exc)})
        return
    horizon = timedelta(minutes=settings.twilio.retry_horizon_minutes)
    delay = backoff_seconds(row.attempts, exc.retry_after)
    if exc.code not in NOT_TAKEN:
        delay = max(delay, UNSURE_SETTLE_SECONDS)  # may have reached Twilio: let its records settle first
    if now + timedelta(seconds=delay) - row.created_at > horizon:
        await services.db.run(
            _fail, row, exc.code or "gave_up", f"gave up after {row.attempts} attempts over {horizon}: {exc}", stamp
        )
        log.warning("outbox gave up", extra={"message_id": row.id, "attempts": row.attempts, "code": exc.code})
        return
    next_at = (now + timedelta(seconds=delay)).isoformat()
    await services.db.run(
        messages.finish_claim, row.id, "retry", stamp, code=exc.code, reason=str(exc), next_attempt_at=next_at
    )
    log.info("outbox retry", extra={"message_id": row.id, "code": exc.code, "in_seconds": round(delay, 1)})


# -- a send that may have reached Twilio ---------------------------------------------------------------------------
async def _already_at_twilio(services: Services, row: _Row) -> bool:
    # The first claim of the timed-out attempt is gone (the row was re-claimed); created_at bounds it safely.
    claimed_at: str | None = await services.db.run(messages.created_at_of, row.id)
    since = datetime.fromisoformat(claimed_at or row.created_at.isoformat())
    try:
        sid = await lookup(services, row.address, row.body, since, row.use_template, set())
    except ChannelError as exc:
        # Could not check: try again later (still marked 'timeout', so the next try looks first again).
        await _record_failure(
            services, row, ChannelError(f"lookup failed: {exc}", code="timeout", retry_after=exc.retry_after)
        )
        return True
    if sid:
        await services.db.run(messages.mark_sent, row.id, sid, None, services.clock.now().isoformat())
        log.info("outbox found a timed-out send at Twilio", extra={"message_id": row.id, "sid": sid})
        return True
    return False
