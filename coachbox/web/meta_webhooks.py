"""GET/POST /webhooks/meta: Meta's verification challenge; signed JSON webhooks → conversation turns and statuses."""

from __future__ import annotations

import asyncio
import json
import logging

from sanic import Blueprint, Request
from sanic.exceptions import Forbidden
from sanic.response import HTTPResponse, text

from coachbox.channels import outbox
from coachbox.channels.meta.status import apply_statuses
from coachbox.channels.meta.webhook import Batch, challenge, parse_payload, signature_ok
from coachbox.core import events
from coachbox.core.addresses import client_ip
from coachbox.core.services import Services
from coachbox.turns.intake import intake_for

log = logging.getLogger("coachbox.web.meta")

bp = Blueprint("meta_webhooks")


@bp.get("/webhooks/meta")
async def verify(request: Request) -> HTTPResponse:
    """Meta's subscription check: echo hub.challenge when hub.verify_token is ours, 403 otherwise."""
    settings = request.app.ctx.settings
    args = {name: request.args.get(name) for name in ("hub.mode", "hub.verify_token", "hub.challenge")}
    answer = challenge(settings.meta.verify_token, args)
    if answer is None:
        log.warning(
            "meta webhook verification refused",
            extra={"ip": client_ip(request), "mode": args["hub.mode"], "configured": bool(settings.meta.verify_token)},
        )
        raise Forbidden("hub.verify_token does not match [meta] verify_token")
    return text(answer)


@bp.post("/webhooks/meta")
async def receive(request: Request) -> HTTPResponse:
    services: Services = request.app.ctx.services
    settings = services.settings
    body = request.body or b""
    if settings.server.verify_signatures and not signature_ok(
        settings.meta.app_secret, body, request.headers.get("x-hub-signature-256")
    ):
        log.warning(
            "meta signature rejected",
            extra={
                "path": request.path,
                "ip": client_ip(request),
                "had_signature": "x-hub-signature-256" in request.headers,
            },
        )
        raise Forbidden("invalid X-Hub-Signature-256")
    # From here on the answer is 200 whatever the body holds: Meta retries a non-2xx for days, then may disable
    # the webhook. What we cannot read is logged.
    try:
        data = json.loads(body)
    except ValueError:
        log.warning("meta webhook body is not JSON", extra={"bytes": len(body)})
        return text("ok")
    now = services.clock.now()
    batch = parse_payload(data, now)
    if batch.skipped:
        log.info("meta webhook items skipped", extra={"skipped": batch.skipped})
    # Shielded like Twilio's: Sanic cancels a handler whose client hung up; the work must finish anyway.
    work = asyncio.ensure_future(_handle(services, batch, now))
    inflight = services.inflight_turns
    inflight.add(work)
    work.add_done_callback(inflight.discard)
    failed = await asyncio.shield(work)
    if failed and _should_redeliver(services, failed):
        # Nothing acknowledged is lost: a turn that failed rolled back, so Meta's redelivery of this POST runs it
        # again, and the messages that did go through are de-duplicated by wamid.
        return text("a message could not be handled; deliver it again", status=503)
    return text("ok")


# A message whose turn keeps failing (a bug its content triggers) is redelivered by Meta for days and may get the
# webhook disabled: after this many failed deliveries it is acknowledged and left in the log.
MAX_REDELIVERIES = 5


def _should_redeliver(services: Services, failed: list[str]) -> bool:
    """Count each failed wamid's deliveries (a day's memory in the shared cache); True while any may try again."""
    again = False
    for sid in failed:
        tries = services.cache.incr(f"meta:failed:{sid}", default=0, retry=True)
        services.cache.touch(f"meta:failed:{sid}", expire=86_400)
        if tries < MAX_REDELIVERIES:
            again = True
        else:
            log.critical("meta inbound turn keeps failing; acknowledged without a turn", extra={"sid": sid})
    return again


async def _handle(services: Services, batch: Batch, now) -> list[str]:
    """Each message once (wamid de-dup in the turn), in the order Meta listed them; then the statuses. Returns the
    wamids whose turn failed (rolled back, so a redelivery runs them again)."""
    intake = intake_for(services)
    failed: list[str] = []
    for message in batch.inbound:
        try:
            # The turn now (its after-turn steps and the sender's kick included), or kept when turns lag.
            await intake.submit(message)
        except Exception:  # noqa: BLE001 - one learner's failing turn must not lose the others in this POST
            log.exception("meta inbound turn failed", extra={"sid": message.provider_sid})
            failed.append(message.provider_sid)
    sent_any = False
    if batch.statuses:
        settings = services.settings
        results = await services.db.run(
            apply_statuses,
            batch.statuses,
            now.isoformat(),
            lambda key: outbox.template_sid(settings, key) is not None,
        )
        for update, result in zip(batch.statuses, results):
            if result in ("updated", "requeued"):
                events.message_changed(services, update.message_id)
            sent_any = sent_any or result == "requeued"
    if sent_any and services.sender is not None:
        services.sender.kick()
    return failed
