"""The dashboard: live counts from cheap indexed queries, and SVG charts from the daily_stats roll-up."""

from __future__ import annotations

from sanic import Blueprint, Request

from coachbox.admin import security as sec
from coachbox.admin.pages import render
from coachbox.store import admin_stats

bp = Blueprint("admin_dashboard", url_prefix="/admin")


@bp.get("/")
@sec.admin_view("viewer")
async def dashboard(request: Request):
    services = request.app.ctx.services
    counts = await services.db.run(admin_stats.live_counts, services.clock.now())
    return render(request, "dashboard.html", counts=counts)
