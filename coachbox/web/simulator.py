"""POST /api/v1/simulator/messages: the simulator channel's JSON door (the admin simulator page, demos, tests).

Like every admin action it needs a signed-in editor and the session's CSRF token (X-CSRF-Token): a caller's
address proves nothing (a local reverse proxy makes every request loopback, and a web page in a browser on this
machine can POST text/plain without a preflight). `coachbox chat` talks to the engine in-process instead.

It answers with this message's replies; what the box sends the learner later (the tutor's answer, a follow-up
quiz, the next lesson…) the admin simulator page receives live (admin.live, channels.simulator.Feed), from the
id in `message_id` on."""

from __future__ import annotations

import re
import uuid

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import BadRequest, NotFound
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from coachbox.admin import security as sec
from coachbox.admin.whatsapp_format import whatsapp_html
from coachbox.channels.base import Inbound
from coachbox.channels.outbox import deliver_due
from coachbox.store.messages import inbound_id, outbound_bodies
from coachbox.turns.runner import handle_inbound

bp = Blueprint("simulator")

PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_TEXT = 4096


@bp.post("/api/v1/simulator/messages")
@sec.admin_view("editor")
async def post_message(request: Request) -> HTTPResponse:
    services = request.app.ctx.services
    if services.settings.channel_kind != "simulator":
        raise NotFound("the simulator is off while a real channel is configured")
    try:
        payload = request.json
    except BadRequest:  # not UTF-8 JSON, too deep, a lone surrogate: logged by web.bodies.SafeRequest
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest('send JSON like {"phone": "+254712345678", "text": "hi"}')
    phone, text, name = payload.get("phone"), payload.get("text", ""), payload.get("name")
    if not isinstance(phone, str) or not PHONE.match(phone):
        raise BadRequest("phone must be in international form, e.g. +254712345678")
    if not isinstance(text, str) or len(text) > MAX_TEXT or (name is not None and not isinstance(name, str)):
        raise BadRequest(f"text must be a string of at most {MAX_TEXT} characters; name a string")

    inbound = Inbound(
        channel="simulator",
        address=f"sim:{phone}",
        body=text,
        provider_sid=f"SIM{uuid.uuid4().hex}",
        received_at=services.clock.now(),
        phone=phone,
        profile_name=name or None,
    )
    outcome = await handle_inbound(services, inbound)
    # No sender in this build: rows stay queued, the reply below still shows them.
    if outcome.outbox_ids:
        while await deliver_due(services):
            pass
    rows = await services.db.run(outbound_bodies, outcome.outbox_ids)
    for row in rows:  # the page shows a reply as WhatsApp would (escaped first, then formatted)
        row["html"] = str(whatsapp_html(row["body"]))
    message_id = await services.db.run(inbound_id, inbound)
    return json_response({"learner_id": outcome.learner_id, "message_id": message_id, "replies": rows})


def setup(app: Sanic) -> None:
    app.blueprint(bp)
