"""The simulator panel: a WhatsApp-like chat to try the bot as a test learner, through the real engine."""

from __future__ import annotations

import hmac
import re

from sanic import Blueprint, Request, Sanic

from coachbox.admin import security as sec
from coachbox.admin.pages import render
from coachbox.store.messages import transcript_page

bp = Blueprint("admin_simulator", url_prefix="/admin")
SIMULATOR_PATH = "/api/v1/simulator/messages"
DEFAULT_PHONE = "+15550100001"  # a reserved-for-fiction number: never a real learner


def _learner_id(conn, phone: str) -> int | None:
    row = conn.execute("SELECT id FROM learners WHERE channel_key = ?", (f"sim:{phone}",)).fetchone()
    return row[0] if row else None


@bp.get("/simulator")
@sec.admin_view("editor")
async def panel(request: Request):
    services = request.app.ctx.services
    phone = request.args.get("phone") or DEFAULT_PHONE
    if not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
        phone = DEFAULT_PHONE
    learner_id = await services.db.run(_learner_id, phone)
    messages = await services.db.run(transcript_page, learner_id, limit=50) if learner_id else []
    return render(
        request,
        "simulator.html",
        phone=phone,
        messages=messages,
        learner_id=learner_id,
        enabled=services.settings.channel_kind == "simulator",
    )


def setup_vouch(app: Sanic) -> None:
    """Let signed-in editors (with the page's CSRF token) use the simulator API from any address, not only loopback."""

    @app.on_request
    async def _load_admin_for_simulator(request: Request) -> None:
        if request.path != SIMULATOR_PATH or request.method != "POST":
            return
        request.ctx.simulator_vouched = False
        admin = await sec.load_admin(request)
        token = request.headers.get("x-csrf-token", "")
        if admin and sec.role_at_least(admin["role"], "editor") and hmac.compare_digest(admin["csrf_token"], token):
            request.ctx.simulator_vouched = True

    app.ctx.simulator_allows = lambda request: getattr(request.ctx, "simulator_vouched", False)
