"""GET /healthz (JSON: db, queue, worker heartbeat, channel) and GET /metrics (Prometheus text, bearer token)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from sanic import Blueprint, Request, Sanic
from sanic.response import json, text

from coachbox.channels import clock_skew, states
from coachbox.core import constant_time
from coachbox.core.disk import judge
from coachbox.core.services import Services
from coachbox.store import heartbeat, intake
from coachbox.store.messages import outbound_totals, outbox_backlog, state_groups

bp = Blueprint("health")

PENDING_STATES = ("scheduled", "held", "budget", "due", "sending", "paused", "retrying", "waiting")
TOTALS_CACHE_KEY = "metrics:outbox-totals"
TOTALS_CACHE_SECONDS = 60  # counting every message ever sent scans millions of rows: not on every scrape


@bp.get("/healthz")
async def healthz(request: Request):
    services = request.app.ctx.services
    body: dict = {"status": "ok", "channel": services.channel.kind}
    beats: dict[str, datetime] | None = None
    try:
        body["db"] = {"ok": True, "outbox_backlog": await services.db.run(outbox_backlog)}
        beats = await services.db.run(heartbeat.last_beats)
        kept = await services.db.run(intake.backlog)
        # Messages acknowledged while turns lagged, whose replies are on their way (docs/performance.md).
        body["inbound"] = {
            "waiting": kept.waiting,
            "oldest_seconds": round(kept.oldest_seconds(services.clock.now()), 1),
            "failed": kept.failed,
        }
    except sqlite3.Error as exc:
        body["db"] = {"ok": False, "error": str(exc)}
        body["status"] = "degraded"
    if beats is not None:
        body["worker"] = _worker_health(request.app, services, beats)
        if not body["worker"]["ok"]:
            body["status"] = "degraded"
    try:
        body["queue"] = {"ok": True, "pending": services.huey.pending_count()}
    except Exception as exc:  # noqa: BLE001 - any queue failure is reported, not raised
        body["queue"] = {"ok": False, "error": str(exc)}
        body["status"] = "degraded"
    try:
        disk = judge(services.settings)  # statvfs at most once a second (core.disk)
    except OSError as exc:
        body["disk"] = {"ok": False, "error": str(exc)}
        body["status"] = "degraded"
    else:
        body["disk"] = {
            "ok": disk.level != "error",
            "free_bytes": disk.space.free_bytes,
            "free_mb": disk.space.free_mb,
            "free_percent": disk.space.free_percent,
            "total_bytes": disk.space.total_bytes,
            "floor_mb": disk.floor_mb,
        }
        if disk.level != "ok":
            body["disk"]["warning"] = disk.message
        if disk.level == "error":  # webhooks fail on a full disk (Twilio retries them): say so before it is full
            body["status"] = "degraded"
    body["clock"] = _clock_health(services)  # a warning only: the status (and 200) stay as they are
    return json(body, status=200 if body["status"] == "ok" else 503)


def _clock_health(services: Services) -> dict:
    """The box's clock against Twilio's (the Date header of its last answer); `warning` past 30 s. Sending is not
    harmed by it (the look-up before a resend counts on Twilio's clock), but quiet hours and schedules are."""
    latest = clock_skew.latest(services.cache)
    if latest is None:
        return {"ok": True, "offset_seconds": None}
    offset = latest["offset_seconds"]
    clock: dict = {
        "ok": not clock_skew.is_skewed(offset),
        "offset_seconds": offset,
        "measured_at": latest["measured_at"],
    }
    if not clock["ok"]:
        clock["warning"] = f"{clock_skew.describe(offset)}: check NTP (timedatectl status)"
    return clock


@bp.after_server_start
async def _note_start(app: Sanic) -> None:
    app.ctx.health_since = app.ctx.services.clock.now()  # a worker that never beat is silent since then


def _worker_health(app: Sanic, services: Services, beats: dict[str, datetime]) -> dict:
    """The Huey worker's liveness from its heartbeat rows (coachbox.jobs.heartbeat), judged by this process's clock.

    No heartbeat at all counts from this web process's start, so a fresh box is not reported dead at once.
    """
    now = services.clock.now()
    limit = services.settings.server.worker_silence_seconds
    last = max(beats.values(), default=getattr(app.ctx, "health_since", now))
    silent = max(0, int((now - last).total_seconds()))
    tick, task = beats.get(heartbeat.TICK_KEY), beats.get(heartbeat.TASK_KEY)
    worker: dict = {
        "ok": silent <= limit,
        "last_tick": tick.isoformat() if tick else None,
        "last_task": task.isoformat() if task else None,
        "silent_seconds": silent,
        "limit_seconds": limit,
    }
    if not worker["ok"]:
        worker["error"] = (
            f"the worker (Huey consumer) has written no heartbeat for {silent} s (limit {limit} s): "
            "scheduled lessons and queued sends are not going out"
        )
    return worker


def _escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def _cached_totals(services: Services) -> dict[str, int]:
    totals = services.cache.get(TOTALS_CACHE_KEY)
    if totals is None:
        totals = await services.db.run(outbound_totals)
        services.cache.set(TOTALS_CACHE_KEY, totals, expire=TOTALS_CACHE_SECONDS)
    return totals


def metrics_allowed(authorization: str | None, token: str) -> bool:
    """True when /metrics is open ([server] metrics_token empty) or the header is `Bearer <that token>`."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and constant_time.equal(token, given.strip())


@bp.get("/metrics")
async def metrics(request: Request):
    services = request.app.ctx.services
    if not metrics_allowed(request.headers.get("authorization"), services.settings.server.metrics_token):
        return text(
            "401: /metrics needs the bearer token set in [server] metrics_token (Authorization: Bearer <token>).\n",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="coachbox metrics"'},
        )
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
    kept = await services.db.run(intake.backlog)
    kept_here = services.intake.kept_total if services.intake is not None else 0
    lines += [
        "# HELP coachbox_inbound_waiting Learner messages acknowledged whose turn has not run yet (turns lagged).",
        "# TYPE coachbox_inbound_waiting gauge",
        f"coachbox_inbound_waiting {kept.waiting}",
        "# HELP coachbox_inbound_oldest_seconds How late the reply to the oldest waiting message already is.",
        "# TYPE coachbox_inbound_oldest_seconds gauge",
        f"coachbox_inbound_oldest_seconds {kept.oldest_seconds(services.clock.now()):.1f}",
        "# HELP coachbox_inbound_failed Kept messages whose turn failed 5 times, left for the operator.",
        "# TYPE coachbox_inbound_failed gauge",
        f"coachbox_inbound_failed {kept.failed}",
        "# HELP coachbox_inbound_kept_total Messages this web worker kept instead of answering after the turn.",
        "# TYPE coachbox_inbound_kept_total counter",
        f"coachbox_inbound_kept_total {kept_here}",
        "# HELP coachbox_queue_pending Tasks waiting in the Huey queue.",
        "# TYPE coachbox_queue_pending gauge",
        f"coachbox_queue_pending {services.huey.pending_count()}",
    ]
    return text("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")


def setup(app: Sanic) -> None:
    app.blueprint(bp)
