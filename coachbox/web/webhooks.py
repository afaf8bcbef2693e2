"""POST /webhooks/twilio and /webhooks/twilio/status: verify, parse, hand to the conversation, wake the sender."""

from __future__ import annotations

import asyncio
import logging

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import BadRequest, Forbidden
from sanic.response import HTTPResponse, empty, text

from coachbox.channels import outbox
from coachbox.channels.sender import Sender
from coachbox.channels.twilio.status import (
    BadStatus,
    apply_receipts,
    apply_status,
    is_receipt,
    parse_status,
)
from coachbox.channels.twilio.webhook import (
    BadInbound,
    FormData,
    parse_inbound,
    signature_ok,
    signed_url,
)
from coachbox.core import events
from coachbox.core.addresses import client_ip
from coachbox.turns.intake import intake_for
from coachbox.web import meta_webhooks

log = logging.getLogger("coachbox.web.webhooks")

bp = Blueprint("twilio_webhooks")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _verified_form(request: Request) -> FormData:
    """The form, once X-Twilio-Signature matches; 403 (logged, nothing stored) otherwise."""
    settings = request.app.ctx.settings
    form = FormData.parse(request.body or b"")
    if not settings.server.verify_signatures:
        return form
    url = signed_url(settings, request.path, request.query_string)
    if not signature_ok(settings.twilio.auth_token, url, form, request.headers.get("x-twilio-signature")):
        log.warning(
            "twilio signature rejected",
            extra={
                "path": request.path,
                "url": url,
                "ip": client_ip(request),
                "had_signature": "x-twilio-signature" in request.headers,
            },
        )
        raise Forbidden("invalid Twilio signature")
    return form


def _sender(request: Request) -> Sender | None:
    return request.app.ctx.services.sender


@bp.post("/webhooks/twilio")
async def inbound(request: Request) -> HTTPResponse:
    services = request.app.ctx.services
    form = _verified_form(request)
    now = services.clock.now()
    try:
        message = parse_inbound(form, now)
    except BadInbound as exc:
        raise BadRequest(str(exc)) from None
    # Sanic cancels a handler whose client hung up (Twilio gives up after 15 s; a proxy may sooner). The turn may
    # commit anyway (a group commit does not abandon its round), and a retry of this MessageSid is then a
    # duplicate: so what follows the turn must not depend on anyone still listening. Shielded, it finishes.
    # The intake runs the turn now, or keeps the message durably when turns lag (answered within the budget).
    work = asyncio.ensure_future(intake_for(services).submit(message))
    inflight = services.inflight_turns  # the loop keeps only weak references to tasks
    inflight.add(work)
    work.add_done_callback(inflight.discard)
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        work.add_done_callback(_log_unheard_failure)
        raise
    return text(EMPTY_TWIML, content_type="text/xml")


def _log_unheard_failure(work: asyncio.Future) -> None:
    """A turn that failed after its webhook was cancelled has nobody to answer: log it (Twilio retries it)."""
    exc = None if work.cancelled() else work.exception()
    if exc is not None:
        log.error("inbound turn failed", exc_info=(type(exc), exc, exc.__traceback__))


@bp.post("/webhooks/twilio/status")
async def status(request: Request) -> HTTPResponse:
    services = request.app.ctx.services
    form = _verified_form(request)
    try:
        update = parse_status(form, request.args.get("m"))
    except BadStatus as exc:
        raise BadRequest(str(exc)) from None
    settings = services.settings
    now = services.clock.now().isoformat()
    if is_receipt(update):
        # Coalesced: a burst of receipts shares one trip to the writer thread and one commit.
        receipts = services.status_receipts
        if receipts is None:
            receipts = services.status_receipts = services.db.coalesce(apply_receipts)
        result = await receipts((update, now))
    else:
        result = await services.db.run(
            apply_status, update, now, lambda key: outbox.template_sid(settings, key) is not None
        )
    if result in ("updated", "requeued"):  # committed: wake open admin pages
        events.message_changed(services, update.message_id)
    if result == "requeued" and (sender := _sender(request)) is not None:
        sender.kick()
    return empty(status=204)


def setup(app: Sanic) -> None:
    app.blueprint(bp)
    app.blueprint(meta_webhooks.bp)  # GET/POST /webhooks/meta, beside Twilio's; the same outbox sender below

    @app.before_server_start
    async def _start_sender(app: Sanic) -> None:
        services = app.ctx.services
        if not services.settings.server.verify_signatures:
            log.warning("TWILIO SIGNATURE CHECKING IS OFF: anyone can post fake messages. Use only for a local tunnel.")
        if services.sender is None:
            sender = Sender(services)
            services.sender = sender
            app.ctx.outbox_sender = sender
            await sender.start()
        intake_for(services)  # runs messages a crash left kept, and keeps new ones when turns lag

    @app.before_server_stop
    async def _stop_sender(app: Sanic) -> None:
        inflight = app.ctx.services.inflight_turns
        if inflight:  # turns whose caller hung up: let them finish (and kick the sender) before it stops
            await asyncio.wait(set(inflight), timeout=10)
        if app.ctx.services.intake is not None:  # kept messages not run yet stay kept for the next start
            await app.ctx.services.intake.stop()
        sender = getattr(app.ctx, "outbox_sender", None)
        if sender is not None:
            await sender.stop()
            app.ctx.services.sender = None
