"""The web process's single writer (one SQLite connection on a dedicated thread) and its read connection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any, TypeVar

from coachbox.store import checkpoint, connect

log = logging.getLogger("coachbox.store")

T = TypeVar("T")


class Database:
    """Runs store functions `fn(conn, …)` on its own thread, one at a time.

    This is what aiosqlite does (a connection on a dedicated thread), but at the level of whole
    functions: the query functions in coachbox.store.* are plain sync functions, so the Huey worker and
    the CLI call the very same code directly, and one handler's transaction never interleaves with another's.
    """

    # Auto-checkpoints are off on every connection (the WAL-reset bug: see coachbox.store), so without a
    # checkpoint the WAL only grows: under a sustained 250 turns/s it reached hundreds of MB in a minute and
    # webhook p99 rose from ~10 ms to ~1 s. The writer therefore checkpoints (TRUNCATE: it holds the writer lock,
    # so it cannot race a write) as soon as the WAL passes this size, checking at most every CHECK_SECONDS.
    # While it runs, every write waits, for longer the larger the WAL: a small WAL checkpointed often makes short
    # pauses that a webhook's p99 hardly sees (issue #15, open loop at 1,000 req/s: 8 MB held the lock ~33 ms, and
    # two thirds of the requests over 50 ms overlapped one; 2 MB ~10 ms). But a checkpoint copies each page once
    # however often it was written since, so under a flood many small ones copy the same hot pages again and again:
    # 2 MB every 0.1 s cost a quarter of the turns a second at full speed. Hence the spacing: after a checkpoint
    # that took t seconds, the next waits CHECKPOINT_SPACING x t, so checkpoints hold the lock at most ~1/10 of the
    # time, and grow (and copy each hot page once for more writes) only when the writes come faster than that.
    WAL_CHECKPOINT_BYTES = 2 * 1024 * 1024
    CHECK_SECONDS = 0.1
    CHECKPOINT_SPACING = 10.0
    READERS = 2  # read connections (threads) per process: admin pages' reads, beside the writer (read())

    def __init__(self, path: str | Path, *, name: str = "sqlite-writer", inline: bool = True) -> None:
        self.path = Path(path)
        self.inline = inline  # write() may run on the caller's thread (False: always the writer thread, as before)
        self._wal = Path(f"{self.path}-wal")
        self._next_check = 0.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection = self._executor.submit(connect, self.path).result()
        self._reader: ThreadPoolExecutor | None = None  # made on the first read(): most processes never read
        self._local = threading.local()  # each reader thread's own connection
        self._reader_conns: list[sqlite3.Connection] = []
        # Who uses the connection now: the writer thread for each job, or the event loop for an inline write
        # (write_inline). Uncontended it costs ~0.1 µs; it makes the two never use the connection at once.
        self._using = threading.Lock()
        self.inline_writes = 0  # for tests and the bench: writes that ran on the caller's thread
        self.queued_writes = 0  # … and those that went to the writer thread (the lock was busy)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, args, kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a read-only store function on one of this process's READ connections, each on a thread of its own.

        WAL lets a reader run beside the writer, each on its own snapshot, so a slow admin page (a course's
        figures, a dashboard) never holds up a learner's turn queued on the writer thread. The connection is
        `query_only`: a function that writes fails here instead of writing outside the writer's transactions.
        READERS reads run at once (a page may read two things side by side), each seeing what was committed when
        it began."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers(), functools.partial(self._read, fn, args, kwargs))

    def read_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """read() from synchronous code (tests, the bench)."""
        return self._readers().submit(functools.partial(self._read, fn, args, kwargs)).result()

    def _readers(self) -> ThreadPoolExecutor:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="sqlite-reader")
        return self._reader

    def _read(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._reader_conns.append(conn)
        try:
            return fn(conn, *args, **kwargs)
        finally:
            if conn.in_transaction:  # never keep a snapshot open: it would stop checkpoints from resetting the WAL
                conn.execute("ROLLBACK")

    def _call(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        """On the writer thread: run fn, then keep the WAL small (only between jobs, never inside a transaction)."""
        with self._using:
            result = fn(self._conn, *args, **kwargs)
            if self._check_due():
                self._checkpoint_if_large()
        return result

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)`, a write that is ONE transaction opened by its first statement (BEGIN IMMEDIATE):
        on the calling thread when it can start at once, else on the writer thread as run() does.

        Issue #15: a trip to the writer thread costs more than a small write. Every SQLite call releases the GIL,
        and the event loop, busy with the next request, takes it: measured at ~1.3 ms of hand-offs per learner's
        turn. So a write runs inline when the connection is free (no job on the writer thread) and the database's
        write lock is free at once (busy_timeout 0 for the try). GroupCommit and Coalesced call this only for a
        batch of one (a quiet box, write_batch): inline work holds the event loop, and under load that time belongs to
        acknowledging webhooks (docs/architecture.md, "Writes"). When another process holds the lock (the worker's
        scheduler batch, a backup), SQLite says so at BEGIN before anything is done, and the write goes to the
        writer thread to wait there as before, so the event loop never waits for another process. `fn` must
        leave nothing behind when it fails (its transaction rolled back): it may then run again on the thread."""
        result = self.write_inline(fn, *args)
        if result is not _BUSY:
            return result  # type: ignore[return-value]
        self.queued_writes += 1
        return await self.run(fn, *args)

    def write_inline(self, fn: Callable[..., T], *args: Any) -> T | object:
        """write() without the fallback: fn's result, or _BUSY (nothing done) when it must go to the writer."""
        if not self.inline or not self._using.acquire(blocking=False):
            return _BUSY
        conn = self._conn
        try:
            if conn.in_transaction:  # a writer job left one open: never write inside another's transaction
                return _BUSY
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                result = fn(conn, *args)
            except sqlite3.OperationalError as exc:
                if conn.in_transaction or not _is_busy(exc):
                    raise
                return _BUSY
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        finally:
            self._using.release()
        self.inline_writes += 1
        if self._check_due():  # the checkpoint may wait for readers: on the writer thread, never inline
            # The check itself, not a job through _call, which would ask _check_due() again and hear "not yet" (a box
            # whose writes all ran inline never checkpointed from the web process that way).
            self._executor.submit(self._checkpoint_on_writer)
        return result

    def _check_due(self) -> bool:
        """Whether the WAL's size is to be checked now (at most every CHECK_SECONDS, and not before the spacing
        after the last checkpoint): True claims this check, so a second caller hears False."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self.CHECK_SECONDS
        return True

    def _checkpoint_on_writer(self) -> None:
        with self._using:
            self._checkpoint_if_large()

    def _checkpoint_if_large(self) -> None:
        try:
            if self._conn.in_transaction or self._wal.stat().st_size < self.WAL_CHECKPOINT_BYTES:
                return
        except FileNotFoundError:
            return
        started = time.monotonic()
        busy, wal_pages, done = checkpoint(self._conn, wait_ms=50)
        ended = time.monotonic()
        self._next_check = max(self._next_check, ended + self.CHECKPOINT_SPACING * (ended - started))
        log.debug("wal checkpoint", extra={"busy": busy, "wal_pages": wal_pages, "checkpointed": done})

    async def write_batch(self, fn: Callable[[sqlite3.Connection, list], T], items: list) -> T:
        """`fn(conn, items)` for a batch of queued writes (GroupCommit, Coalesced): inline (write()) only for a batch
        of one, a quiet box; two or more queued means the box is busy, and the event loop's time belongs to
        acknowledging webhooks, so the writer thread takes the batch (issue #15; docs/architecture.md, "Writes")."""
        return await (self.write if len(items) == 1 else self.run)(fn, items)

    def coalesce(self, fn: Callable[[sqlite3.Connection, list], list]) -> Coalesced:
        """An awaitable `(item) -> result` that runs `fn(conn, items)` once for every item that queued meanwhile."""
        return Coalesced(self, fn)

    def group(
        self,
        fn: Callable[[sqlite3.Connection, Any], Any],
        *,
        max_items: int = 8,
        max_seconds: float = 0.020,
        around: Callable[[sqlite3.Connection], ContextManager[Any]] | None = None,
        after_commit: Callable[[Any], None] | None = None,
    ) -> GroupCommit:
        """An awaitable `(item) -> result` that runs `fn(conn, item)` in a SAVEPOINT of a transaction shared with
        whatever else queued meanwhile (group commit); every result is handed out only after the COMMIT."""
        return GroupCommit(
            self, fn, max_items=max_items, max_seconds=max_seconds, around=around, after_commit=after_commit
        )

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The same, from synchronous code (CLI, tests) that must not share the connection across threads."""
        return self._executor.submit(functools.partial(self._call, fn, args, kwargs)).result()

    def close(self) -> None:
        def _close(conn: sqlite3.Connection) -> None:
            conn.close()

        try:
            self._executor.submit(_close, self._conn).result()
        finally:
            self._executor.shutdown(wait=True)
            if self._reader is not None:
                self._reader.shutdown(wait=True)
                for conn in self._reader_conns:  # check_same_thread=False: closed here, the threads are gone
                    conn.close()


_BUSY = object()  # write_inline: the connection or the database's write lock was taken; nothing was done
BUSY_TIMEOUT_MS = 30000  # as coachbox.store's PRAGMA_SQL sets it on every connection


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock (busy_timeout 0 does not wait)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class Coalesced:
    """Small writes from concurrent handlers, run together in one writer call (one transaction) per round.

    Each would otherwise take its own trip to the writer thread and its own commit. A round starts as soon as
    the first item arrives; under load it simply takes whatever queued while the previous round ran, so an
    idle box adds no delay and a busy one commits many items at once. `fn(conn, items)` returns one result
    per item, in order; if it raises, every item of that round gets the error.
    """

    def __init__(self, db: Database, fn: Callable[[sqlite3.Connection, list], list]) -> None:
        self.db, self.fn = db, fn
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def __call__(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self.db.write_batch(self.fn, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)


class GroupCommit:
    """Group commit: queued writes (conversation turns) run back to back inside ONE `BEGIN IMMEDIATE … COMMIT`.

    A commit, and the trip to the writer thread, cost about as much as a whole small turn; under load many turns
    share them. Each item runs in its own SAVEPOINT: if `fn` raises, ROLLBACK TO undoes that item alone and its
    caller gets the exception, while the others go on. No caller hears anything before the COMMIT: if the
    COMMIT (or anything outside the savepoints) fails, the whole group is rolled back and every caller gets the
    error, so nothing is acknowledged that was not committed. (An error after which SQLite has already rolled
    back the whole transaction, such as a full disk, ends up there too: ROLLBACK TO finds no savepoint.) A round
    starts as soon as the first item arrives (an idle box waits for nothing) and takes at most `max_items` items,
    or fewer once `max_seconds` of work is done, which bounds how long the write lock (and, inline, the event loop)
    is held and how long the first turn of a round waits for the last. The size is counted in items: it used to be
    a 2 ms budget, and as a turn takes longer than that, rounds held one or two turns and most turns paid a commit
    of their own (issue #15). A round of one (a quiet box) runs inline on the event loop when it can
    (Database.write_batch); bigger rounds go to the writer thread, and the loop reads new requests between rounds.

    `fn` must not open or end the transaction itself. `around(conn)`, if given, is a context manager entered
    after BEGIN and left before COMMIT, once per round (e.g. one diskcache transaction for the whole round).
    `after_commit(result)`, if given, runs on the round's thread for each item that committed, even when its
    caller has gone away meanwhile (a client that disconnected does not cancel work that must follow a commit).
    """

    def __init__(
        self,
        db: Database,
        fn: Callable[[sqlite3.Connection, Any], Any],
        *,
        max_items: int,
        max_seconds: float,
        around: Callable[[sqlite3.Connection], ContextManager[Any]] | None,
        after_commit: Callable[[Any], None] | None = None,
    ) -> None:
        self.db, self.fn, self.around, self.after_commit = db, fn, around, after_commit
        self.max_items, self.max_seconds = max_items, max_seconds
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self.rounds = 0  # for tests and the bench: how many commits served how many items
        self.items = 0
        # Seconds of writer time an item takes, a moving average of the rounds: with `waiting`, how long a new
        # item would wait (turns/intake.py keeps messages instead of letting webhooks wait past a budget).
        self.item_seconds = 0.003

    @property
    def waiting(self) -> int:
        """Items queued for a round, the running round's included."""
        return len(self._pending)

    async def __call__(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_items]
            try:
                outcomes = await self.db.write_batch(self._round, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - nothing committed: every caller of the round hears it
                del self._pending[: len(batch)]
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            # Items beyond the time budget were not run: they stay first in line for the next round.
            done = batch[: len(outcomes)]
            del self._pending[: len(done)]
            self.rounds, self.items = self.rounds + 1, self.items + len(done)
            for (_, future), (ok, value) in zip(done, outcomes):
                if future.done():  # the caller went away (client disconnected): the write stands, unanswered
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            # A round that ran inline held the event loop: let it read the requests that came in meanwhile.
            await asyncio.sleep(0)

    def _round(self, conn: sqlite3.Connection, items: list) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        started = time.perf_counter()
        deadline = started + self.max_seconds
        conn.execute("BEGIN IMMEDIATE")
        try:
            with self.around(conn) if self.around is not None else contextlib.nullcontext():
                for item in items:
                    if outcomes and time.perf_counter() > deadline:
                        break
                    conn.execute("SAVEPOINT grouped_item")
                    try:
                        value = self.fn(conn, item)
                    except Exception as exc:  # noqa: BLE001 - this item alone is undone; its caller gets exc
                        conn.execute("ROLLBACK TO grouped_item")
                        conn.execute("RELEASE grouped_item")
                        outcomes.append((False, exc))
                    else:
                        conn.execute("RELEASE grouped_item")
                        outcomes.append((True, value))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if outcomes:  # a float assignment: read on the event loop without a lock
            per_item = (time.perf_counter() - started) / len(outcomes)
            self.item_seconds = 0.8 * self.item_seconds + 0.2 * per_item
        if self.after_commit is not None:
            for ok, value in outcomes:
                if ok:
                    try:
                        self.after_commit(value)
                    except Exception:  # committed already: its caller still gets its result
                        log.exception("after-commit step failed")
        return outcomes
