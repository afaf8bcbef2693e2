"""GET /healthz (JSON: db, queue, channel) and GET /metrics (Prometheus text)."""

from __future__ import annotations

import sqlite3

from sanic import Blueprint, Request, Sanic
from sanic.response import json, text

from coachbox.channels import states
from coachbox.core.services import Services
from coachbox.store.messages import outbound_totals, outbox_backlog, state_groups

bp = Blueprint("health")

PENDING_STATES = ("scheduled", "held", "due", "sending", "paused", "retrying", "waiting")
TOTALS_CACHE_KEY = "metrics:outbox-totals"
TOTALS_CACHE_SECONDS = 60  # counting every message ever sent scans millions of rows: not on every scrape


@bp.get("/healthz")
async def healthz(request: Request):
    services = request.app.ctx.services
    body: dict = {"status": "ok", "channel": services.channel.kind}
    try:
        body["db"] = {"ok": True, "outbox_backlog": await services.db.run(outbox_backlog)}
    except sqlite3.Error as exc:
        body["db"] = {"ok": False, "error": str(exc)}
        body["status"] = "degraded"
    try:
        body["queue"] = {"ok": True, "pending": services.huey.pending_count()}
    except Exception as exc:  # noqa: BLE001 - any queue failure is reported, not raised
        body["queue"] = {"ok": False, "error": str(exc)}
        body["status"] = "degraded"
    return json(body, status=200 if body["status"] == "ok" else 503)


def _escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def _cached_totals(services: Services) -> dict[str, int]:
    totals = services.cache.get(TOTALS_CACHE_KEY)
    if totals is None:
        totals = await services.db.run(outbound_totals)
        services.cache.set(TOTALS_CACHE_KEY, totals, expire=TOTALS_CACHE_SECONDS)
    return totals


@bp.get("/metrics")
async def metrics(request: Request):
    services = request.app.ctx.services
    lines = [
        "# HELP coachbox_requests_total HTTP requests by method, route and status (this web process).",
        "# TYPE coachbox_requests_total counter",
    ]
    for (method, route, status), count in sorted(request.app.ctx.metrics["requests"].items()):
        lines.append(
            f'coachbox_requests_total{{method="{method}",route="{_escape_label(route)}",status="{status}"}} {count}'
        )
    lines += [
        "# HELP coachbox_outbox_backlog Outbound messages still to send, by status.",
        "# TYPE coachbox_outbox_backlog gauge",
    ]
    for status, count in sorted((await services.db.run(outbox_backlog)).items()):
        lines.append(f'coachbox_outbox_backlog{{status="{_escape_label(status)}"}} {count}')
    # The backlog by what it is doing: a row held for quiet hours is no more stuck than one waiting for its learner.
    pending = states.count(await services.db.run(state_groups, services.clock.now().isoformat()))
    lines += [
        "# HELP coachbox_outbox_pending Outbound messages still to send, by state: "
        + "; ".join(f"{name} = {words}" for name, words in states.STATES.items() if name in PENDING_STATES)
        + ".",
        "# TYPE coachbox_outbox_pending gauge",
    ]
    for name in PENDING_STATES:
        lines.append(f'coachbox_outbox_pending{{state="{name}"}} {pending.by_state[name]}')
    lines += [
        "# HELP coachbox_outbox_messages Outbound messages by status (refreshed at most once a minute).",
        "# TYPE coachbox_outbox_messages gauge",
    ]
    for status, count in sorted((await _cached_totals(services)).items()):
        lines.append(f'coachbox_outbox_messages{{status="{_escape_label(status)}"}} {count}')
    lines += [
        "# HELP coachbox_queue_pending Tasks waiting in the Huey queue.",
        "# TYPE coachbox_queue_pending gauge",
        f"coachbox_queue_pending {services.huey.pending_count()}",
    ]
    return text("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")


def setup(app: Sanic) -> None:
    app.blueprint(bp)
