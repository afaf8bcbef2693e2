"""Publish/subscribe for the admin page's live streams: topics published right after a commit wake them, in the web
process directly, and from the worker through a small relay in the shared diskcache."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from coachbox.core.services import Services

log = logging.getLogger("coachbox.core.events")

# The relay in diskcache: a counter, and the topics of each write under their number for a couple of minutes.
RELAY_SEQ = "events:relay:seq"
RELAY_EXPIRE_SECONDS = 120
RELAY_GAP_SECONDS = 0.25  # the worker writes at most this often: a fan-out's sends share one write
RELAY_POLL_SECONDS = 0.5  # the web process looks this often (one cache read)

# Topics, all plain strings:
#   "dashboard"      learners or counts changed (an inbound turn committed)
#   "learner:<id>"   that learner's transcript changed (a message in or out, a status moved)
#   "broadcast:<id>" that broadcast changed (cancelled, fanned out…)
#   "outbox"         some outbound message's status moved (dashboard queue counts, broadcast progress)
#   "inbox"          a handover opened, closed or changed (the inbox page, and the menu's count on every page)


class Subscription:
    """One stream's interest in some topics: wait() returns once any of them was published since the last wait."""

    def __init__(self, hub: Hub, topics: tuple[str, ...]) -> None:
        self.hub = hub
        self.topics = topics
        self._event = asyncio.Event()

    def _wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken by a publish, False on timeout (then poll: another process may have written)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
            woken = True
        except TimeoutError:
            woken = False
        self._event.clear()
        return woken

    def close(self) -> None:
        self.hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub:
    """Subscriptions by topic. Subscribe on the event loop; publish from the loop or, safely, from any thread."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()  # look-ups in flight (the loop keeps only weak references)
        self._published: dict[str, int] = {}  # how often each topic was published here (generation())
        self._count_lock = threading.Lock()  # publish() runs on the loop and on other threads

    def subscribe(self, *topics: str) -> Subscription:
        self._loop = asyncio.get_running_loop()
        sub = Subscription(self, topics)
        for topic in topics:
            self._subs.setdefault(topic, set()).add(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        for topic in sub.topics:
            subs = self._subs.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[topic]

    def watching(self, prefix: str = "") -> bool:
        """Is any stream subscribed to a topic starting with prefix? (Skip work nobody would see.)"""
        return any(topic.startswith(prefix) for topic in list(self._subs))

    def generation(self, topic: str) -> int:
        """How many times `topic` was published in this process: a cache keeps the number it read at and reads
        again only once it moved (admin.menu_count: the menu's Inbox count, one read for every open tab)."""
        return self._published.get(topic, 0)

    def publish(self, *topics: str) -> None:
        with self._count_lock:
            for topic in topics:
                self._published[topic] = self._published.get(topic, 0) + 1
        woken = {sub for topic in topics for sub in self._subs.get(topic, ())}
        if not woken:
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        for sub in woken:
            if on_loop:
                sub._wake()
            elif self._loop is not None and not self._loop.is_closed():
                # asyncio.Event is not thread-safe: a writer thread or executor hands the wake to the loop.
                self._loop.call_soon_threadsafe(sub._wake)


def hub(services: Services) -> Hub:
    """The process's hub, made on first use (by a stream, or at web start-up)."""
    found = services.hub
    if found is None:
        found = services.hub = Hub()
    return found


def publish(services: Services, *topics: str) -> None:
    """Publish after a commit: to this process's hub (web: its streams), through the relay to the web process
    (worker), to both (`coachbox chat`: its own feed, and admin pages open elsewhere), else nowhere (other CLI
    commands). Never fails the caller's work."""
    if services is None:
        return
    try:
        if (found := services.hub) is not None:
            found.publish(*topics)
        if (relay := services.relay) is not None:
            relay.publish(topics)
    except Exception:  # noqa: BLE001 - the write is committed; a missed live update is fixed by the next poll
        log.exception("could not publish %s", topics)


class Relay:
    """Topics published in a process without streams (the Huey worker), written to the shared diskcache for the
    web process (relay_to_hub): so an admin sees a broadcast's fan-out or a worker-sent lesson within a second.

    Writes are gathered: the first publish after a quiet spell is written at once, later ones at most every
    RELAY_GAP_SECONDS together (a timer thread), so a sender at 80 messages/s costs four cache writes a second."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._timer: threading.Timer | None = None
        self._last_write = 0.0

    def publish(self, topics: tuple[str, ...] | list[str]) -> None:
        with self._lock:
            self._pending.update(topics)
            if self._timer is not None:
                return  # the pending write takes these too
            wait = self._last_write + RELAY_GAP_SECONDS - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()
                return
            batch, self._pending, self._last_write = self._pending, set(), time.monotonic()
        self._write(batch)

    def close(self) -> None:
        """Write what is pending now (the process is stopping) and stop the timer."""
        with self._lock:
            timer, self._timer = self._timer, None
            batch, self._pending = self._pending, set()
        if timer is not None:
            timer.cancel()
            timer.join()  # no thread outlives the relay (a test's, or a stopping process's)
        if batch:
            self._write(batch)

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending, self._timer, self._last_write = self._pending, set(), None, time.monotonic()
        if batch:
            self._write(batch)

    def _write(self, topics: set[str]) -> None:
        try:
            with self.cache.transact(retry=True):
                number = self.cache.incr(RELAY_SEQ, default=0, retry=True)
                self.cache.set(f"events:relay:{number}", tuple(sorted(topics)), expire=RELAY_EXPIRE_SECONDS, retry=True)
        except Exception:  # noqa: BLE001 - live updates are a nicety: the streams re-read every few seconds anyway
            log.exception("could not relay %s", sorted(topics))


async def relay_to_hub(services: Services, *, poll: float = RELAY_POLL_SECONDS) -> None:
    """In the web process: publish what other processes relayed (forever; cancel to stop). Reads one counter every
    `poll` seconds, and the topics behind it only when it moved and some stream is watching."""
    cache, found = services.cache, hub(services)
    last = int(cache.get(RELAY_SEQ, 0, retry=True) or 0)
    while True:
        await asyncio.sleep(poll)
        try:
            number = int(cache.get(RELAY_SEQ, 0, retry=True) or 0)
            if number != last and found.watching():
                topics: set[str] = set()
                for n in range(max(last + 1, number - 200), number + 1):  # after a long gap: the recent ones
                    topics.update(cache.get(f"events:relay:{n}", (), retry=True) or ())
                if topics:
                    found.publish(*topics)
            last = number
        except Exception:  # noqa: BLE001 - keep relaying; the streams' own re-reads cover a missed round
            log.exception("could not read the events relay")


def _learner_of(conn: Any, message_id: int) -> int | None:
    row = conn.execute("SELECT learner_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    return row[0] if row else None


def message_changed(services: Services, message_id: int | None) -> None:
    """An outbound message's status moved (a status callback): wake "outbox", and its learner's transcript.

    The callback names only our message id; its learner is looked up (one primary-key read) only while some
    transcript is open, in a task so the callback's answer to Twilio does not wait for it.
    """
    publish(services, "outbox")
    found = services.hub
    if message_id is None or found is None or not found.watching("learner:"):
        return

    async def lookup() -> None:
        try:
            learner_id = await services.db.run(_learner_of, message_id)
        except Exception:  # noqa: BLE001
            log.exception("could not find the learner of message %s", message_id)
            return
        if learner_id is not None:
            publish(services, f"learner:{learner_id}")

    try:
        task = asyncio.get_running_loop().create_task(lookup())
    except RuntimeError:  # not on a loop: nobody here could be watching
        return
    found._tasks.add(task)
    task.add_done_callback(found._tasks.discard)
