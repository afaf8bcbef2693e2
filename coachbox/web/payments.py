"""POST /webhooks/stripe (signed) and POST /webhooks/mpesa/<secret> (secret path, optional IP allow-list)."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import jinja2
import stripe
from sanic import Blueprint, Request, Sanic
from sanic.exceptions import BadRequest, Forbidden, NotFound
from sanic.response import HTTPResponse, html
from sanic.response import json as json_response

from coachbox.core import constant_time
from coachbox.core.addresses import client_ip
from coachbox.core.hostile import BadBody, parse_json
from coachbox.core.services import Services
from coachbox.payments.errors import ProviderError
from coachbox.payments.mpesa import (
    BadCallback,
    StkResult,
    parse_callback,
    same_phone,
)
from coachbox.payments.runtime import payments
from coachbox.payments.settlement import settle_stk
from coachbox.payments.stripe_events import NEEDS_REVIEW, apply_event
from coachbox.store import payments as store
from coachbox.store import transaction

log = logging.getLogger("coachbox.web.payments")

bp = Blueprint("payment_webhooks")
TOLERANCE_SECONDS = 300  # Stripe's default: a signature older than this is a replay, refused
# Daraja reads this body: anything but ResultCode 0 makes it retry the callback.
MPESA_ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}


def _kick(request: Request) -> None:
    sender = request.app.ctx.services.sender
    if sender is not None:
        sender.kick()  # the receipt or notice goes out now, not at the next drain


@bp.post("/webhooks/mpesa/<secret:str>")
async def mpesa_callback(request: Request, secret: str) -> HTTPResponse:
    services = request.app.ctx.services
    settings = services.settings
    expected = settings.mpesa.callback_secret
    # Constant time: the path secret is the callback's only credential (Daraja does not sign callbacks).
    if not expected or not constant_time.equal(expected, secret):
        log.warning("mpesa callback with a wrong path secret", extra={"ip": client_ip(request)})
        raise NotFound("not found")
    remote = client_ip(request)
    allowed = {ip.strip() for ip in settings.mpesa.allowed_ips.split(",") if ip.strip()}
    if allowed and remote not in allowed:
        log.warning("mpesa callback from an address not in mpesa.allowed_ips", extra={"ip": remote})
        raise Forbidden("address not allowed")
    body = request.body or b""
    payload = body.decode("utf-8", errors="replace")
    now = services.clock.now()
    try:
        result = parse_callback(body)
    except BadCallback as exc:
        await services.db.run(_review_malformed, payload, str(exc), now, remote)
        log.warning("mpesa callback unreadable", extra={"ip": remote, "error": str(exc)})
        return json_response(MPESA_ACK)  # kept for review; a retry of garbage helps no one
    p = payments(services)
    source = "callback"
    if settings.mpesa.confirm_with_query and p.daraja is not None:
        confirmed = await _confirm(services, p, result, payload, now, remote)
        if confirmed is None:
            return json_response(MPESA_ACK)  # pending still; the worker's query settles it
        result, source = confirmed
    outcome = await services.db.run(
        settle_stk, p.texts, p.plans, result, payload=payload, now=now, source=source, remote_addr=remote
    )
    log.info(
        "mpesa callback",
        extra={
            "checkout_request_id": result.checkout_request_id,
            "outcome": outcome,
            "result_code": result.result_code,
        },
    )
    if outcome in ("paid", "cancelled", "failed"):
        _kick(request)
    return json_response(MPESA_ACK)


async def _confirm(
    services: Services, p, claimed: StkResult, payload: str, now, remote: str
) -> tuple[StkResult, str] | None:
    """Ask Daraja (over TLS, with our credentials) whether the callback tells the truth, before acting on it.

    Daraja does not sign callbacks: without this, anyone who learns the callback URL (proxy logs, a tunnel, the
    Daraja portal) can grant access or cancel a learner's real payment. Only a first word on a pending payment
    is checked: replays, unknown ids and mismatched amounts are settled (or refused) by settle_stk without a call.
    Returns the result to settle with, or None when Daraja cannot say yet (the payment is then queried soon).
    """
    pay = await services.db.run(store.payment_by_ref, "mpesa", claimed.checkout_request_id)
    if pay is None or pay["status"] not in ("new", "pending"):
        return claimed, "callback"
    if claimed.ok and (claimed.amount_minor != pay["amount_minor"] or not same_phone(pay["phone"], claimed.phone)):
        return claimed, "callback"  # refused for review without granting; the query still settles the payment
    try:
        truth = await p.daraja.stk_query(claimed.checkout_request_id, now=now)
    except ProviderError as exc:
        log.warning(
            "mpesa callback not confirmed: STK query failed", extra={"payment_id": pay["id"], "error": str(exc)}
        )
        truth = None
    if truth is None:
        await services.db.run(_query_soon, pay["id"], now)
        return None
    if truth.ok == claimed.ok:
        # Agreed. The callback carries the receipt number and the paid amount; the query carries neither.
        return (claimed, "callback") if claimed.ok else (truth, "query")
    # A callback Safaricom contradicts is forged or garbled: act on the query, keep the callback for a person.
    await services.db.run(_review_contradicted, claimed, payload, pay["id"], now, remote)
    log.warning(
        "mpesa callback contradicted by the STK query",
        extra={"payment_id": pay["id"], "ip": remote, "claimed": claimed.result_code, "query": truth.result_code},
    )
    return truth, "query"


def _query_soon(conn, payment_id: int, now) -> None:
    with transaction(conn):
        store.query_soon(conn, payment_id, now)


def _review_contradicted(conn, claimed: StkResult, payload: str, payment_id: int, now, remote: str) -> None:
    with transaction(conn):
        store.record_review(
            conn,
            "mpesa",
            "callback_contradicted",
            payload,
            now,
            reference=claimed.checkout_request_id,
            payment_id=payment_id,
            remote_addr=remote,
        )


def _review_malformed(conn, payload: str, reason: str, now, remote: str) -> None:
    with transaction(conn):
        store.record_review(conn, "mpesa", "malformed", payload, now, reference=reason[:100], remote_addr=remote)


@bp.post("/webhooks/stripe")
async def stripe_webhook(request: Request) -> HTTPResponse:
    services = request.app.ctx.services
    secret = services.settings.stripe.webhook_secret
    if not secret:
        raise NotFound("card payments are not configured")
    body = request.body or b""
    try:
        # The RAW body: the signature covers the exact bytes Stripe sent (https://docs.stripe.com/webhooks#verify-events).
        # Only the signature: the library's own json.loads would recurse past Python's limit on a deep body.
        header = request.headers.get("stripe-signature")
        if header is not None and not header.isascii():
            # stripe compares with hmac.compare_digest on str, which raises on non-ASCII characters (a 500); its
            # signatures are hex, so such a header is refused as any other bad signature. (Our own comparisons
            # go through core.constant_time.equal.)
            raise stripe.SignatureVerificationError("the signature header is not ASCII", header)
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), header, secret, tolerance=TOLERANCE_SECONDS)
    except UnicodeDecodeError:
        log.warning("stripe webhook body is not UTF-8", extra={"ip": client_ip(request)})
        raise BadRequest("the body is not a JSON Stripe event") from None
    except stripe.SignatureVerificationError as exc:
        log.warning(
            "stripe signature rejected",
            extra={
                "ip": client_ip(request),
                "reason": str(exc)[:200],
                "had_signature": "stripe-signature" in request.headers,
            },
        )
        raise BadRequest("invalid Stripe signature") from None
    try:
        # Verified; plain data, no float for any amount; not too deep, no lone surrogate (core.hostile).
        event = parse_json(body, parse_float=Decimal)
    except BadBody as exc:
        log.warning("stripe webhook body unreadable", extra={"ip": client_ip(request), "reason": str(exc)})
        raise BadRequest(f"the body is not a JSON Stripe event: {exc}") from None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)):
        # Signed with our secret, yet not a Stripe event (a hand-made test post?): nothing to apply or record.
        log.warning("stripe webhook without an event id and type", extra={"ip": client_ip(request)})
        raise BadRequest("not a Stripe event: id and type are required")
    p = payments(services)
    outcome = await services.db.run(apply_event, p.texts, p.plans, event, body.decode("utf-8"), services.clock.now())
    if outcome in NEEDS_REVIEW:
        # 200 on purpose: Stripe's retries cannot fix our config or a learner we do not have (see NEEDS_REVIEW).
        log.warning(
            "stripe event kept for review",
            extra={"event_id": event.get("id"), "type": event.get("type"), "outcome": outcome},
        )
        return json_response({"received": True, "outcome": outcome, "review": True})
    log.info("stripe event", extra={"event_id": event.get("id"), "type": event.get("type"), "outcome": outcome})
    if outcome not in ("duplicate", "ignored", "stale"):
        _kick(request)
    return json_response({"received": True, "outcome": outcome})


@bp.get("/payments/done")
async def card_done(request: Request) -> HTTPResponse:
    return _card_page(request, "done")


@bp.get("/payments/cancelled")
async def card_cancelled(request: Request) -> HTTPResponse:
    return _card_page(request, "cancelled")


def _page_language(request: Request, texts) -> str:
    """?lang= from the link we gave Stripe (the learner's language), else the browser's, else the school's."""
    wanted = [request.args.get("lang", "")]
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        wanted += [tag, tag.split("-")[0]]
    wanted.append(request.app.ctx.services.settings.org.default_language)
    return next((code for code in wanted if code and texts.has(code)), "en")


def _card_page(request: Request, outcome: str) -> HTTPResponse:
    services = request.app.ctx.services
    texts = payments(services).texts
    lang = _page_language(request, texts)
    sender = "".join(ch for ch in services.settings.twilio.whatsapp_from if ch.isdigit())
    page = request.app.ctx.card_result_template.render(
        lang=lang,
        outcome=outcome,
        org=services.settings.org.name,
        title=texts.t(lang, f"payments.page_{outcome}_title"),
        body=texts.t(lang, f"payments.page_{outcome}_body"),
        back=texts.t(lang, "payments.page_back"),
        whatsapp_url=f"https://wa.me/{sender}" if sender else "",
    )
    # Nothing here is private, but the page must not be cached or indexed, nor leak its URL onward.
    return html(
        page,
        headers={
            "Cache-Control": "no-store",
            "X-Robots-Tag": "noindex",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def setup(app: Sanic) -> None:
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
    app.ctx.card_result_template = templates.get_template("card_result.html")
    app.blueprint(bp)

    @app.after_server_stop
    async def _close_clients(app: Sanic) -> None:
        services = app.ctx.services
        found = services.payments if services is not None else None
        if found is not None:
            await found.aclose()
