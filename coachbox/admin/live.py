"""Live updates over server-sent events: dashboard counters, a learner's open transcript, a broadcast's progress,
and the simulator's phone (what the box sends its test learner, as it is sent).

Each stream waits on the process's event hub (coachbox.core.events), which the web process publishes to right after
each commit (and the worker and `coachbox chat` through the relay in diskcache, within a second), and re-reads its
few cheap indexed queries when woken. Other CLI commands do not publish, so a timeout re-reads anyway
(FALLBACK_SECONDS); with JavaScript off, pages still work by reload.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from sanic import Blueprint, Request
from sanic.exceptions import NotFound

from coachbox.admin import menu_count
from coachbox.admin import security as sec
from coachbox.admin.broadcasts import audience_allowed, live_state
from coachbox.admin.pages import times_of
from coachbox.admin.scope import LearnerScope, scope_for
from coachbox.admin.times import Times
from coachbox.admin.whatsapp_format import whatsapp_html
from coachbox.channels import states
from coachbox.channels.simulator import Feed, SentMessage
from coachbox.core import events
from coachbox.jobs.queue import queue_counts
from coachbox.store import broadcasts, learners, messages, stats

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
    """Send step()'s events, then wait for a topic (or the fallback timeout), until the stream's time is up.

    Every stream also carries the menu's Inbox count (event "inbox-count", when it changed): a page's one stream
    keeps its menu live too. The count comes from admin.menu_count, one read per scope for all tabs."""
    services = request.app.ctx.services
    menu: dict = {}
    # Subscribed before the first read: a commit published between that read and the wait is not lost.
    with events.hub(services).subscribe(*topics, menu_count.TOPIC) as subscription:
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
            if (count := await menu_count.open_count(request)) is not None and menu.get("open") != count:
                menu["open"] = count
                await response.send(_event("inbox-count", menu))
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
        counts = await services.db.run(stats.live_counts, services.clock.now())
        return check({**counts, **queue_counts(services.huey).shown()})  # the jobs tile too, as Operations reads it

    await _serve(request, ("dashboard", "outbox"), step)


@bp.get("/learners/<learner_id:int>")
@sec.admin_view("viewer")
async def transcript_events(request: Request, learner_id: int):
    services = request.app.ctx.services
    arg = request.args.get("after", "0")
    after = int(arg) if arg.isdigit() else 0
    sent_statuses: dict[int, tuple[str, str | None]] | None = None  # None until the first round
    # A learner outside the admin's classes (admin.scope), or none at all: 404, and no stream that could carry them.
    learner = await services.db.run(learners.learner, learner_id, scope_for(request.ctx.admin).sql_one("l.id"))
    if learner is None:
        raise NotFound("No such learner.")
    tz = learner["timezone"] or services.settings.org.default_timezone
    times = times_of(request)

    async def step() -> list[str]:
        nonlocal after, sent_statuses
        now = services.clock.now()
        rows, recent = await services.db.run(_transcript, learner_id, after)
        # Each row's state in words (held until 07:00, waiting for the learner, failed with Twilio's meaning…).
        statuses = {row["id"]: states.of(row, now, tz) for row in recent}
        out = []
        for row in rows:
            after = row["id"]
            # body goes in with textContent; html is the same body through whatsapp_html (escaped first, then
            # formatted), the only HTML the page puts in with innerHTML.
            out.append(
                _event(
                    "message-row",
                    {
                        "id": row["id"],
                        "direction": row["direction"],
                        "body": row["body"],
                        "html": str(whatsapp_html(row["body"])),
                        "meta": f"{times.when(row['created_at'])} · {row['kind']}",  # as _bubble.html shows it
                        "status": states.of(row, now, tz).words if row["direction"] == "out" else None,
                    },
                )
            )
        known = sent_statuses or {}
        for message_id, state in statuses.items():
            # The first round sends every status: the page may have been rendered before the latest moved.
            shown = (state.words, state.error)
            if sent_statuses is None or known.get(message_id) != shown:
                out.append(_event("message-status", {"id": message_id, "status": state.words, "error": state.error}))
        sent_statuses = {message_id: (state.words, state.error) for message_id, state in statuses.items()}
        return out

    await _serve(request, (f"learner:{learner_id}",), step)


def _transcript(conn, learner_id: int, after: int) -> tuple[list, list]:
    return messages.messages_after(conn, learner_id, after), messages.recent_outbound_states(
        conn, learner_id, STATUS_ROWS
    )


@bp.get("/simulator/<learner_id:int>")
@sec.admin_view("editor")
async def simulator_events(request: Request, learner_id: int):
    """The simulator page's phone: each message the box sends this learner once, when it is sent (whatever made it:
    the turn, the tutor, the scheduler, a broadcast), after the `after` id the page shows already."""
    services = request.app.ctx.services
    if not await services.db.run(_simulated_or_seen, learner_id, scope_for(request.ctx.admin)):
        raise NotFound("No such learner.")
    arg = request.args.get("after", "0")
    feed = Feed(learner_id, after=int(arg) if arg.isdigit() else 0)
    times = times_of(request)

    async def step() -> list[str]:
        return [_event("message-row", _phone_row(m, times)) for m in await services.db.run(feed.read)]

    await _serve(request, (f"learner:{learner_id}",), step)


def _simulated_or_seen(conn, learner_id: int, scope: LearnerScope) -> bool:
    """The simulator's phone follows a test learner (channel key sim:…, never a real person), or a learner the
    admin may see anyway; a teacher limited to classes cannot follow another class's learner through it."""
    if learners.learner(conn, learner_id, scope.sql_one("l.id")) is not None:
        return True
    row = learners.learner(conn, learner_id)
    return row is not None and row["channel_key"].startswith("sim:")


def _phone_row(message: SentMessage, times: Times) -> dict:
    when = times.when(message.sent_at or message.created_at)  # the org's time zone, as every admin page
    media = "".join(f" · 📎 {path.rsplit('/', 1)[-1]}" for path in message.media)
    # direction "out": from the box (the simulator page, being the learner's phone, shows it as received).
    return {
        "id": message.id,
        "direction": "out",
        "body": message.body,
        "html": str(whatsapp_html(message.body)),
        "meta": f"{when} · {message.kind}{media}",
    }


@bp.get("/broadcasts/<broadcast_id:int>")
@sec.admin_view("viewer")
async def broadcast_events(request: Request, broadcast_id: int):
    services = request.app.ctx.services
    if not scope_for(request.ctx.admin).everyone:  # a teacher limited to classes: only their classes' broadcasts
        row = await services.db.run(broadcasts.get, broadcast_id)
        if row is None or not audience_allowed(request, row["audience"]):
            raise NotFound("No such broadcast.")
    check = _changed({})

    async def step() -> list[str]:
        # One range of the idempotency-key index: cheap even for a broadcast to 100,000 learners.
        now = services.clock.now()
        row, counts = await services.db.run(_broadcast_state, broadcast_id, now)
        return check(live_state(row, counts, now, services.settings.org.default_timezone))

    await _serve(request, (f"broadcast:{broadcast_id}", "outbox"), step)


def _broadcast_state(conn, broadcast_id: int, now: datetime) -> tuple:
    return broadcasts.get(conn, broadcast_id), states.count(broadcasts.state_groups(conn, broadcast_id, now))
