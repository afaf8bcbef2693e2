"""A learner's message from a webhook: its turn now while turns keep up, else kept durably and run soon after.

Issue #15. A webhook waits for its turn's commit, so beyond the box's capacity turns used to queue in memory
without limit and webhooks passed Twilio's 15 s timeout. Now, when the turns already waiting in this web worker
would take longer than `[server] turn_budget_ms` (or messages are already kept), the webhook is answered as soon
as its message is stored in `inbound_queue`: the same commit makes it a duplicate for the provider's retries.
`Intake.run` then runs the kept turns in arrival order (one learner's messages one after another) through the
same group commit as live turns, and each turn deletes its row in its own transaction, so a crash loses no
acknowledged message and runs none twice; rows a crash left are run on the next start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.channels.meta import media as meta_media
from coachbox.channels.twilio import media as twilio_media
from coachbox.core.services import Services
from coachbox.store import intake as kept
from coachbox.store import learners, transaction
from coachbox.store.messages import is_duplicate_inbound
from coachbox.turns.runner import TurnOutcome, after_message, handle_inbound

log = logging.getLogger("coachbox.turns.intake")

CLAIM_LEARNERS = 8  # learners whose kept messages one claim takes: a few group-commit rounds, no more
# While webhooks keep arriving, the kept turns leave the process this share of their own time (a pause after each
# claimed batch): turns and acknowledgements share one GIL and one writer thread, and an acknowledgement must
# never wait behind a minute of turns. With no webhook for ARRIVALS_QUIET seconds, kept turns run flat out.
YIELD_SHARE = 0.5
ARRIVALS_QUIET = 0.5
# The pause also lasts until the event loop keeps time again: a PROBE_SECONDS sleep that wakes more than
# LOOP_LATE_SECONDS late means acknowledgements are queueing in this worker, so the next batch of turns waits.
# Turns get only the time acknowledgements leave: at five times capacity a fixed half share let the webhooks'
# own work back up (p99 0.8-3 s); the turns catch up once the flood ends.
# Never longer than MAX_PAUSE_SECONDS: on a VPS whose stolen CPU makes every sleep late, kept turns still go on.
PROBE_SECONDS = 0.005
LOOP_LATE_SECONDS = 0.002
MAX_PAUSE_SECONDS = 1.0
LEASE = timedelta(seconds=30)  # a claim older than this belongs to a worker that died: another takes it over
IDLE_CHECK_SECONDS = 5.0  # also look without being woken: rows a crash or another worker left


def from_json(payload: str) -> Inbound:
    data = json.loads(payload)
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    data["media"] = tuple(InboundMedia(url, content_type, path) for url, content_type, path in data["media"])
    return Inbound(**data)


def _enqueue(conn: sqlite3.Connection, items: list[kept.Arrival]) -> list[str]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        results = kept.enqueue(conn, items)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return results


def _resolve(conn: sqlite3.Connection, inbound: Inbound) -> Inbound:
    """A learner Meta now names only by business-scoped user id keeps the key they were first met by."""
    if inbound.wa_user_id:
        key = learners.key_for_wa_user_id(conn, inbound.wa_user_id)
        if key is not None and key != inbound.address:
            return dataclasses.replace(inbound, address=key)
    return inbound


async def process(services: Services, inbound: Inbound) -> TurnOutcome:
    """One message start to finish: its media, the turn (or its place in the queue), what follows the commit."""
    if inbound.wa_user_id:  # a trip to the writer thread only when Meta names a business-scoped id
        inbound = await services.db.run(_resolve, inbound)
    if inbound.media and not await services.db.run(is_duplicate_inbound, inbound):
        download = meta_media if services.settings.channel_kind == "meta" else twilio_media
        inbound = await download.download_media(services.settings, inbound)
    handler = services.inbound_handler  # tests and benches put a stand-in here; production uses the engine
    if handler is None:
        handler = services.inbound_handler = handle_inbound
    outcome = await handler(services, inbound)
    queued = getattr(outcome, "queued", False)  # a stand-in turn's outcome (tests, benches) may not say
    if not outcome.duplicate and not queued and outcome.learner_id is not None:
        if handler is not handle_inbound:  # the real turn did this in its own transaction (runner.after_message)
            await services.db.write(_after_stand_in, outcome.learner_id, inbound, services.clock.now())
        if services.sender is not None:
            services.sender.kick()
    return outcome


def _after_stand_in(conn: sqlite3.Connection, learner_id: int, inbound: Inbound, now: datetime) -> None:
    with transaction(conn):
        after_message(conn, learner_id, inbound, now)


def intake_for(services: Services) -> Intake:
    """This web worker's Intake, made and started on first use (the server's start-up makes it first)."""
    if services.intake is None:
        services.intake = Intake(services)
    services.intake.start()
    return services.intake


class Intake:
    """One per web worker: decides, per message, between its turn now and the queue, and runs the queue."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.worker = f"web-{uuid.uuid4().hex[:12]}"
        self.budget = services.settings.server.turn_budget_ms / 1000
        self._store = services.db.coalesce(_enqueue)
        self._waiter: asyncio.Future | None = None  # what run() waits on between drains
        self._draining = asyncio.Lock()  # one drain at a time: its claims are this worker's own
        self._task: asyncio.Task | None = None
        self.kept_here = 0  # messages this worker kept and has not run yet: while any is, new ones are kept behind them
        self._last_arrival = 0.0  # loop time of the last webhook: while they come, kept turns pause between batches
        self.kept_total = 0  # since start, for /metrics

    def lagging(self) -> bool:
        """Would a new turn wait longer than the budget behind the turns already waiting here?"""
        turns = self.services.inbound_turns
        waiting = (turns.waiting * turns.item_seconds) if turns is not None else 0.0
        return waiting > self.budget

    async def submit(self, inbound: Inbound) -> TurnOutcome | None:
        """The turn's outcome, or None when the message was kept for soon (or was a duplicate of a kept one).
        Either way the message is durable when this returns: the webhook may answer."""
        self._last_arrival = asyncio.get_running_loop().time()
        if self.kept_here or self.lagging():
            result = await self._store(kept.arrival(inbound))
            if result == "queued":
                self._kept()
            return None
        outcome = await process(self.services, inbound)
        if getattr(
            outcome, "queued", False
        ):  # another worker keeps this learner's earlier messages: it waits behind them
            self._kept()
        return outcome

    def _kept(self) -> None:
        self.kept_here += 1
        self.kept_total += 1
        if self._waiter is not None:
            _settle(self._waiter)

    def start(self) -> None:
        """Run the queue on this event loop (again, after a stop), unless it runs already."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run(self) -> None:
        """Run kept messages until stopped: woken when one is kept, and every few seconds for a crash's."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive a bad moment (a locked database): rows stay kept
                log.exception("running kept messages failed; trying again shortly")
            # A plain future, not wait_for(Event.wait()): nothing to cancel but this task when the server stops.
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(IDLE_CHECK_SECONDS, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()

    async def drain(self) -> int:
        """Claim and run kept messages until none is left for this worker; how many turns ran."""
        async with self._draining:
            return await self._drain()

    async def _drain(self) -> int:
        services, ran = self.services, 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            claimed = await services.db.run(
                kept.claim, self.worker, services.clock.now(), limit=CLAIM_LEARNERS, lease=LEASE
            )
            if not claimed:
                self.kept_here = 0
                return ran
            by_learner: dict[str, list[kept.Queued]] = defaultdict(list)
            for row in claimed:
                by_learner[row.address].append(row)
            counts = await asyncio.gather(*(self._run_learner(rows) for rows in by_learner.values()))
            ran += sum(counts)
            await self._pause(loop, loop.time() - started)

    async def _pause(self, loop: asyncio.AbstractEventLoop, worked: float) -> None:
        """After `worked` seconds of kept turns, while webhooks arrive: YIELD_SHARE of that, and longer while
        the loop runs late (acknowledgements queueing), up to MAX_PAUSE_SECONDS."""
        started = loop.time()
        until = started + worked * YIELD_SHARE
        while loop.time() - self._last_arrival < ARRIVALS_QUIET and loop.time() - started < MAX_PAUSE_SECONDS:
            before = time.perf_counter()
            await asyncio.sleep(PROBE_SECONDS)
            late = time.perf_counter() - before - PROBE_SECONDS
            if late < LOOP_LATE_SECONDS and loop.time() >= until:
                return

    async def _run_learner(self, rows: list[kept.Queued]) -> int:
        """One learner's kept messages, oldest first; a failing one stops the rest until it is retried."""
        ran = 0
        for row in rows:
            try:
                await process(self.services, from_json(row.payload))
            except Exception as exc:  # noqa: BLE001 - the turn rolled back: the row stays, tried again later
                now = self.services.clock.now()
                gave_up = await self.services.db.run(_failed, row.id, f"{type(exc).__name__}: {exc}", now)
                if gave_up:
                    log.critical(
                        "kept inbound message keeps failing; left for the operator",
                        extra={"queued_id": row.id, "address": row.address},
                    )
                else:
                    log.exception("kept inbound turn failed; retried later", extra={"queued_id": row.id})
                    return ran  # its learner's later messages wait: they must not overtake it
                continue
            if self.services.inbound_handler is not handle_inbound:
                # A stand-in turn (tests, benches) does not delete the row as the real turn does in its commit.
                await self.services.db.run(_forget, row.id)
            ran += 1
            self.kept_here = max(0, self.kept_here - 1)
        return ran


def _settle(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _failed(conn: sqlite3.Connection, queued_id: int, error: str, now: datetime) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        gave_up = kept.failed(conn, queued_id, error, now)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return gave_up


def _forget(conn: sqlite3.Connection, queued_id: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    kept.done(conn, queued_id)
    conn.execute("COMMIT")
