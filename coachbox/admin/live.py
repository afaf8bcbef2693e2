"""Live updates over server-sent events: dashboard counters, a learner's open transcript, a broadcast's progress.

Each stream waits on the process's event hub (coachbox.core.events), which the web process publishes to right after
each commit (and the worker through the relay in diskcache, within a second), and re-reads its few cheap indexed
queries when woken. The CLI does not publish, so a timeout re-reads anyway (FALLBACK_SECONDS); with JavaScript off,
pages still work by reload.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from sanic import Blueprint, Request

from coachbox.admin import security as sec
from coachbox.channels.twilio.errors import describe
from coachbox.core import events
from coachbox.store import broadcasts, messages, stats

bp = Blueprint("admin_live", url_prefix="/admin/events")
# Changes nobody published (the CLI's, or a relay write that was lost) show within this long.
FALLBACK_SECONDS = 5.0
# At most this often per stream: a broadcast's burst of status callbacks must not become a burst of queries
# on the single writer thread; each re-read catches everything published meanwhile.
MIN_GAP_SECONDS = 0.25
# Streams end after a while and EventSource reconnects by itself: no connection is held forever.
STREAM_SECONDS = 300.0
# Statuses followed for the newest outbound messages of an open transcript (one range of messages_learner).
STATUS_ROWS = 100


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _serve(request: Request, topics: tuple[str, ...], step: Callable[[], Awaitable[list[str]]]) -> None:
    """Send step()'s events, then wait for a topic (or the fallback timeout), until the stream's time is up."""
    services = request.app.ctx.services
    # Subscribed before the first read: a commit published between that read and the wait is not lost.
    with events.hub(services).subscribe(*topics) as subscription:
        response = await request.respond(
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        # A comment line at once: Sanic sends the headers with the first bytes, and EventSource counts as
        # connected only then, even when there is nothing to report yet.
        await response.send(": live\n\n")
        started = time.monotonic()
        while True:
            last_read = time.monotonic()
            for chunk in await step():
                await response.send(chunk)
            if request.args.get("once") == "1" or time.monotonic() - started >= STREAM_SECONDS:
                break
            await subscription.wait(FALLBACK_SECONDS)
            gap = MIN_GAP_SECONDS - (time.monotonic() - last_read)
            if gap > 0:
                await asyncio.sleep(gap)  # let a burst settle: what is published meanwhile is read next round
        await response.eof()


def _changed(last: dict) -> Callable[[dict], list[str]]:
    def check(state: dict) -> list[str]:
        if state == last:
            return []
        last.clear()
        last.update(state)
        return [_event("update", {k: v if isinstance(v, str) else f"{v:,}" for k, v in state.items()})]

    return check


@bp.get("/dashboard")
@sec.admin_view("viewer")
async def dashboard_events(request: Request):
    services = request.app.ctx.services
    check = _changed({})

    async def step() -> list[str]:
        return check(await services.db.run(stats.live_counts, services.clock.now()))

    await _serve(request, ("dashboard", "outbox"), step)


@bp.get("/learners/<learner_id:int>")
@sec.admin_view("viewer")
async def transcript_events(request: Request, learner_id: int):
    services = request.app.ctx.services
    arg = request.args.get("after", "0")
    after = int(arg) if arg.isdigit() else 0
    sent_statuses: dict[int, tuple[str, str | None]] | None = None  # None until the first round

    async def step() -> list[str]:
        nonlocal after, sent_statuses
        rows, statuses = await services.db.run(_transcript, learner_id, after)
        out = []
        for row in rows:
            after = row["id"]
            # The client puts body in with textContent: JSON here, never HTML.
            out.append(
                _event(
                    "message-row",
                    {
                        "id": row["id"],
                        "direction": row["direction"],
                        "body": row["body"],
                        "meta": f"{row['created_at'][:16].replace('T', ' ')} UTC · {row['kind']}",
                        "status": row["status"] if row["direction"] == "out" else None,
                    },
                )
            )
        known = sent_statuses or {}
        for message_id, (status, code) in statuses.items():
            # The first round sends every status: the page may have been rendered before the latest moved.
            if sent_statuses is None or known.get(message_id) != (status, code):
                out.append(
                    _event(
                        "message-status",
                        {
                            "id": message_id,
                            "status": status,
                            "error": f"Error {code}: {describe(code)}" if code else None,
                        },
                    )
                )
        sent_statuses = statuses
        return out

    await _serve(request, (f"learner:{learner_id}",), step)


def _transcript(conn, learner_id: int, after: int) -> tuple[list, dict[int, tuple[str, str | None]]]:
    rows = messages.messages_after(conn, learner_id, after)
    statuses = conn.execute(
        "SELECT id, status, error_code FROM messages WHERE learner_id = ? AND direction = 'out' "
        "ORDER BY id DESC LIMIT ?",
        (learner_id, STATUS_ROWS),
    ).fetchall()
    return rows, {r["id"]: (r["status"], r["error_code"]) for r in statuses}


@bp.get("/broadcasts/<broadcast_id:int>")
@sec.admin_view("viewer")
async def broadcast_events(request: Request, broadcast_id: int):
    services = request.app.ctx.services
    check = _changed({})

    async def step() -> list[str]:
        # One range of the idempotency-key index: cheap even for a broadcast to 100,000 learners.
        return check(await services.db.run(_broadcast_state, broadcast_id))

    await _serve(request, (f"broadcast:{broadcast_id}", "outbox"), step)


def _broadcast_state(conn, broadcast_id: int) -> dict:
    row = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    return {**broadcasts.progress(conn, broadcast_id), "status": row[0] if row else "deleted"}
