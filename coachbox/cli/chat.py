"""`coachbox chat`: a learner's conversation in the terminal, through the same service, store and worker as WhatsApp.

The terminal shows everything the box sends this learner, when it is sent: the replies to each line, and what comes
later (the tutor's answer, the follow-up quiz 30 minutes on, the next daily lesson, badges, certificates,
broadcasts). It reads them from the shared outbound rows of the messages table (channels.simulator.Feed), whichever
process made and sent them, and it runs the box's worker on threads of its own (jobs.inprocess), so nothing needs a
second command. It writes to the box's own data folder.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from typing import TextIO

from coachbox.channels.base import Inbound
from coachbox.channels.sender import Sender
from coachbox.channels.simulator import Feed, SentMessage
from coachbox.core import events
from coachbox.core.clock import Clock
from coachbox.core.config import Settings
from coachbox.core.datalock import data_dir_in_use, hold_shared
from coachbox.core.errors import UserError
from coachbox.core.services import Services
from coachbox.jobs.inprocess import InProcessWorker
from coachbox.roots.services import build_services
from coachbox.store import learners, messages, open_database, transaction
from coachbox.turns.runner import handle_inbound, resources

BOT = "🤖 "
# Messages another process sent (a `coachbox run` beside this chat) show within this long; this process's own
# sends wake the feed at once through the event hub.
POLL_SECONDS = 1.0
# Piped input: after each line, wait this long at most for the work it started (a tutor answer) before the next.
SETTLE_SECONDS = 60.0
SETTLE_STEP_SECONDS = 0.05


def run_chat(
    settings: Settings,
    *,
    phone: str,
    language: str | None = None,
    profile_name: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock: Clock | None = None,
    periodic: bool = True,
) -> int:
    """Read lines (a prompt on a terminal; piped input echoes each line as "> line") and show what the box sends.

    Ends at the end of input: on a terminal Ctrl-D; piped input once the last line's work is done (SETTLE_SECONDS
    at most). clock: the box's clock (tests pass a fake one). periodic=False: the scheduled jobs (lessons,
    follow-ups…) run only when something enqueues them, not every minute of the real time (tests enqueue them).
    """
    if settings.channel_kind != "simulator":
        raise UserError(
            "coachbox chat runs the box's worker, and this box has Twilio configured: it would send real learners' "
            "WhatsApp messages from your terminal. Try the course in a throw-away box instead:\n"
            "  COACHBOX_TWILIO_ACCOUNT_SID= COACHBOX_TWILIO_AUTH_TOKEN= COACHBOX_PATHS_DATA_DIR=/tmp/coachbox-try "
            "coachbox chat\n(or write to the box's WhatsApp number)."
        )
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    phone = _e164(phone)
    return asyncio.run(_Chat(settings, phone, profile_name, stdin, stdout, clock, periodic).run(language))


def _e164(phone: str) -> str:
    digits = phone.strip().replace(" ", "").replace("-", "")
    digits = digits if digits.startswith("+") else "+" + digits
    if not digits[1:].isdigit() or not 8 <= len(digits) <= 16:
        raise UserError(f"--phone {phone!r} is not a phone number; use the international form, e.g. +254712345678.")
    return digits


class _Chat:
    def __init__(
        self,
        settings: Settings,
        phone: str,
        profile_name: str | None,
        stdin: TextIO,
        stdout: TextIO,
        clock: Clock | None,
        periodic: bool,
    ) -> None:
        self.settings, self.phone, self.profile_name = settings, phone, profile_name
        self.address = f"sim:{phone}"
        self.stdin, self.stdout = stdin, stdout
        self.clock, self.periodic = clock, periodic
        self.interactive = stdin.isatty()
        self.feed: Feed | None = None
        self._showing = asyncio.Lock()
        self._at_prompt = False  # "you> " is the last thing on the terminal
        self._in_turn = False  # a line's replies are being shown: one block, a blank line after it

    async def run(self, language: str | None) -> int:
        settings = self.settings
        open_database(settings.db_path).close()
        alone = not data_dir_in_use(settings)  # no server or worker here: locks a killed consumer left are stale
        data_lock = hold_shared(settings)  # like every process of the box: `coachbox restore` waits for us
        try:
            services = self.services = build_services(settings, clock=self.clock)
            try:
                return await self._run(services, language, flush_locks=alone)
            finally:
                await services.aclose()
                services.huey.storage.close()
        finally:
            data_lock.close()

    async def _run(self, services: Services, language: str | None, *, flush_locks: bool) -> int:
        settings = self.settings
        loop = asyncio.get_running_loop()
        hub = events.hub(services)
        relay = services.relay = events.Relay(services.cache)  # this chat's turns and sends reach admin pages elsewhere
        sender = services.sender = Sender(services)

        def worker_services(worker_settings: Settings) -> Services:
            built = build_services(worker_settings, clock=services.clock)
            built.hub = hub  # what the tasks send wakes this feed at once (and, through their relay, admin pages)
            return built

        def kick() -> None:  # on a consumer thread, after each task: send what it wrote now, not at the next poll
            try:
                loop.call_soon_threadsafe(sender.kick)
            except RuntimeError:  # the loop has closed: the chat is ending
                pass

        worker = self.worker = InProcessWorker(
            services.huey, settings, worker_services, periodic=self.periodic, flush_locks=flush_locks, on_task_done=kick
        )
        services.tasks = worker.tasks  # a turn's follow-ups (tutor.answer, certificates.issue…) go to the queue
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        reader = threading.Thread(target=_read_lines, args=(self.stdin, loop, lines), name="chat-stdin", daemon=True)
        follower: asyncio.Task | None = None
        try:
            if language:
                texts = resources(services).texts
                if not texts.has(language):
                    raise UserError(
                        f"--lang {language}: no content/locales/{language}.toml. Available: {', '.join(texts.languages)}."
                    )
                await services.db.run(_preset_language, self.address, self.phone, language, services.clock.now())
            found = await services.db.run(learners.find_by_key, self.address)
            if found is not None:  # what was shown before this chat is history: from now on (and what is held)
                self.feed = Feed(found["id"], after=await services.db.run(messages.newest_message_id, found["id"]))
            await sender.start()
            worker.start()
            follower = asyncio.create_task(self._follow(hub), name="chat-feed")
            reader.start()
            if self.interactive:
                self._write(f"Chatting as {self.phone} on the simulator channel. Type a message; Ctrl-D to leave.\n")
                self._prompt()
            while (line := await lines.get()) is not None:
                self._at_prompt = False  # Enter moved the terminal to a new line
                await self._turn(line.rstrip("\n"))
        finally:
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            await asyncio.to_thread(worker.stop)
            await sender.stop()
            relay.close()
            if reader.ident is not None:  # piped input has ended; a terminal's read may still block (a daemon)
                reader.join(timeout=0.2 if self.interactive else 5.0)
        return 0

    async def _turn(self, text: str) -> None:
        services = self.services
        if not self.interactive:
            self._write(f"> {text}\n")
        inbound = Inbound(
            channel="simulator",
            address=self.address,
            body=text,
            provider_sid=f"SIM{uuid.uuid4().hex}",
            received_at=services.clock.now(),
            phone=self.phone,
            profile_name=self.profile_name,
        )
        outcome = await handle_inbound(services, inbound)
        if services.sender is not None:
            services.sender.kick()  # the replies go out now (this Sender also sends what the worker threads wrote)
        if outcome.learner_id is not None and (self.feed is None or self.feed.learner_id != outcome.learner_id):
            self.feed = Feed(outcome.learner_id)  # a new learner (first message, or after erasing their data)
        # Piped input reads like a transcript: each line's work is done before the next; a terminal shows the
        # replies, then later messages whenever they are sent.
        self._in_turn = True
        try:
            await self._settle(tasks=not self.interactive)
        finally:
            self._in_turn = False
        self._write("\n")
        if self.interactive:
            self._prompt()

    async def _settle(self, *, tasks: bool) -> None:
        """Show what is sent until nothing more is on its way: the learner's due rows are out and (tasks) the queue is
        empty with no task running here. Quiet twice in a row, since a task leaves the queue just before it runs."""
        deadline = time.monotonic() + SETTLE_SECONDS
        quiet = 0
        while quiet < 2 and time.monotonic() < deadline:
            await self._show()
            busy = self.feed is not None and self.feed.due(self.services.clock.now())
            if tasks and not busy:
                busy = not await asyncio.to_thread(self.worker.idle)
            quiet = 0 if busy else quiet + 1
            await asyncio.sleep(SETTLE_STEP_SECONDS)
        await self._show()

    async def _follow(self, hub: events.Hub) -> None:
        """Show later messages as they are sent: woken by this process's sends, or every POLL_SECONDS for others'."""
        subscription = None
        try:
            while True:
                learner_id = self.feed.learner_id if self.feed is not None else None
                if subscription is None and learner_id is not None:
                    subscription = hub.subscribe(f"learner:{learner_id}")
                if await self._show() and not self._in_turn:
                    self._write("\n")  # messages sent later: a block of their own
                    if self.interactive:
                        self._prompt()
                if subscription is not None:
                    await subscription.wait(POLL_SECONDS)
                    if self.feed is not None and self.feed.learner_id != learner_id:
                        subscription.close()
                        subscription = None
                else:
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            if subscription is not None:
                subscription.close()

    async def _show(self) -> int:
        """Print what the feed has that was sent since the last call (one reader at a time); how many."""
        async with self._showing:
            feed = self.feed
            if feed is None:
                return 0
            sent = await self.services.db.run(feed.read)
            if sent:
                # On a terminal, the bubbles replace the prompt line they arrive under; the prompt follows them.
                clear = "\r\x1b[K" if self._at_prompt else ""
                self._at_prompt = False
                self._write(clear + "".join(_bubble(m) for m in sent))
            return len(sent)

    def _prompt(self) -> None:
        if not self._at_prompt:
            self._write("you> ")
            self._at_prompt = True

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()


def _bubble(message: SentMessage) -> str:
    media = f"  [media: {', '.join(message.media)}]" if message.media else ""
    body = message.body.replace("\n", "\n   ")
    return f"{BOT}{body}{media}\n"


def _read_lines(stdin: TextIO, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """On its own thread: a terminal's read blocks, and the chat keeps showing messages meanwhile. None at the end."""
    try:
        for line in iter(stdin.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, line)
    finally:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:  # the chat ended first (Ctrl-C)
            pass


def _preset_language(conn, address: str, phone: str, language: str, now) -> None:
    """--lang: the learner (new or not) speaks this language from the first reply on."""

    with transaction(conn):
        conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, language, created_at, updated_at)
               VALUES (?, 'simulator', ?, ?, ?, ?)
               ON CONFLICT (channel_key) DO UPDATE SET language = excluded.language""",
            (address, phone, language, now.isoformat(), now.isoformat()),
        )
