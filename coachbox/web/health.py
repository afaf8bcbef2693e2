"""GET /healthz (JSON: db, queue, channel) and GET /metrics (Prometheus text)."""

from __future__ import annotations

import sqlite3

from sanic import Blueprint, Request, Sanic
from sanic.response import json, text

bp = Blueprint("health")


def _db_state(conn: sqlite3.Connection) -> dict:
    conn.execute("SELECT 1").fetchone()
    rows = conn.execute(
        "SELECT status, COUNT(*) FROM messages WHERE direction = 'out' GROUP BY status"
    ).fetchall()
    return {"ok": True, "outbox": {status: count for status, count in rows}}


@bp.get("/healthz")
async def healthz(request: Request):
    services = request.app.ctx.services
    body: dict = {"status": "ok", "channel": services.channel.kind}
    try:
        body["db"] = await services.db.run(_db_state)
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


@bp.get("/metrics")
async def metrics(request: Request):
    services = request.app.ctx.services
    lines = ["# HELP coachbox_requests_total HTTP requests by method, route and status.",
             "# TYPE coachbox_requests_total counter"]
    for (method, route, status), count in sorted(request.app.ctx.metrics["requests"].items()):
        lines.append(
            f'coachbox_requests_total{{method="{method}",route="{_escape_label(route)}",status="{status}"}} {count}'
        )
    state = await services.db.run(_db_state)
    lines += ["# HELP coachbox_outbox_messages Outbound messages by status.", "# TYPE coachbox_outbox_messages gauge"]
    for status, count in sorted(state["outbox"].items()):
        lines.append(f'coachbox_outbox_messages{{status="{_escape_label(status)}"}} {count}')
    lines += ["# HELP coachbox_queue_pending Tasks waiting in the Huey queue.", "# TYPE coachbox_queue_pending gauge",
              f"coachbox_queue_pending {services.huey.pending_count()}"]
    return text("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")


def setup(app: Sanic) -> None:
    app.blueprint(bp)
