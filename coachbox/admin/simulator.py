"""The simulator panel: a WhatsApp-like chat to try the bot as a test learner, through the real engine.

The page is the learner's phone: it shows what the box has sent them (and what they wrote), then receives every
later message live as it is sent (admin.live's simulator stream, channels.simulator.Feed): the tutor's answers, the
follow-up quiz, the next daily lesson, badges, certificates, broadcasts.
"""

from __future__ import annotations

import re

from sanic import Blueprint, Request

from coachbox.admin import security as sec
from coachbox.admin.pages import render
from coachbox.channels.simulator import SENT_STATUSES
from coachbox.store import learners
from coachbox.store.messages import transcript_page

bp = Blueprint("admin_simulator", url_prefix="/admin")
DEFAULT_PHONE = "+15550100001"  # a reserved-for-fiction number: never a real learner


@bp.get("/simulator")
@sec.admin_view("editor")
async def panel(request: Request):
    services = request.app.ctx.services
    phone = request.args.get("phone") or DEFAULT_PHONE
    if not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
        phone = DEFAULT_PHONE
    learner = await services.db.run(learners.find_by_key, f"sim:{phone}")
    learner_id = learner["id"] if learner is not None else None
    rows = await services.db.run(transcript_page, learner_id, limit=50) if learner_id else []
    # What the phone has: the learner's messages and those sent to them. One still to send (held for quiet hours)
    # arrives through the live feed when it goes, which starts after the newest row read here.
    messages = [m for m in rows if m["direction"] == "in" or m["status"] in SENT_STATUSES]
    return render(
        request,
        "simulator.html",
        phone=phone,
        messages=messages,
        learner_id=learner_id,
        after=rows[-1]["id"] if rows else 0,
        enabled=services.settings.channel_kind == "simulator",
    )
