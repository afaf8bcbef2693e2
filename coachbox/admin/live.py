"""Live updates over server-sent events: dashboard counters, a learner's open transcript, a broadcast's progress.

The web process, the worker and other processes all write to SQLite, so the stream polls cheap indexed
queries (a few ms) instead of relying on in-process events; with JavaScript off, pages still work by reload.
"""

from __future__ import annotations

import asyncio
import json
import time

from sanic import Blueprint, Request

from coachbox.admin import security as sec
from coachbox.store import admin_broadcasts, admin_learners, admin_stats

bp = Blueprint("admin_live", url_prefix="/admin/events")
POLL_SECONDS = 3.0
# Streams end after a while and EventSource reconnects by itself: no connection is held forever.
STREAM_SECONDS = 300.0


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(request: Request):
    return await request.respond(content_type="text/event-stream; charset=utf-8",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _keep_going(request: Request, started: float) -> bool:
    return request.args.get("once") != "1" and time.monotonic() - started < STREAM_SECONDS


@bp.get("/dashboard")
@sec.admin_view("viewer")
async def dashboard_events(request: Request):
    services = request.app.ctx.services
    response = await _stream(request)
    started, last = time.monotonic(), None
    while True:
        counts = await services.db.run(admin_stats.live_counts, services.clock.now())
        if counts != last:
            await response.send(_event("update", {k: f"{v:,}" for k, v in counts.items()}))
            last = counts
        if not _keep_going(request, started):
            break
        await asyncio.sleep(POLL_SECONDS)
    await response.eof()


@bp.get("/learners/<learner_id:int>")
@sec.admin_view("viewer")
async def transcript_events(request: Request, learner_id: int):
    services = request.app.ctx.services
    after = int(request.args.get("after", "0")) if request.args.get("after", "0").isdigit() else 0
    response = await _stream(request)
    started = time.monotonic()
    while True:
        rows = await services.db.run(admin_learners.messages_after, learner_id, after)
        for row in rows:
            after = row["id"]
            meta = f"{row['created_at'][:16].replace('T', ' ')} UTC · {row['kind']}"
            if row["direction"] == "out":
                meta += f" · {row['status']}"
            # The client puts body in with textContent: JSON here, never HTML.
            await response.send(_event("message-row", {"id": row["id"], "direction": row["direction"],
                                                       "body": row["body"], "meta": meta}))
        if not _keep_going(request, started):
            break
        await asyncio.sleep(POLL_SECONDS)
    await response.eof()


@bp.get("/broadcasts/<broadcast_id:int>")
@sec.admin_view("viewer")
async def broadcast_events(request: Request, broadcast_id: int):
    services = request.app.ctx.services
    response = await _stream(request)
    started, last = time.monotonic(), None
    while True:
        # One range of the idempotency-key index: cheap even for a broadcast to 100,000 learners.
        counts = await services.db.run(_broadcast_state, broadcast_id)
        if counts != last:
            await response.send(_event("update", {k: v if isinstance(v, str) else f"{v:,}" for k, v in counts.items()}))
            last = counts
        if not _keep_going(request, started):
            break
        await asyncio.sleep(POLL_SECONDS)
    await response.eof()


def _broadcast_state(conn, broadcast_id: int) -> dict:
    row = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    return {**admin_broadcasts.progress(conn, broadcast_id), "status": row[0] if row else "deleted"}
