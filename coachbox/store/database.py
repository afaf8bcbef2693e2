"""One SQLite connection on one dedicated thread: the web process's single writer, awaited from handlers."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

from coachbox.store import connect

T = TypeVar("T")


class Database:
    """Runs store functions `fn(conn, …)` on its own thread, one at a time.

    This is what aiosqlite does (a connection on a dedicated thread), but at the level of whole
    functions: the query functions in coachbox.store.* are plain sync functions, so the Huey worker and
    the CLI call the very same code directly, and one handler's transaction never interleaves with another's.
    """

    def __init__(self, path: str | Path, *, name: str = "sqlite-writer") -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection = self._executor.submit(connect, self.path).result()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, self._conn, *args, **kwargs))

    def coalesce(self, fn: Callable[[sqlite3.Connection, list], list]) -> "Coalesced":
        """An awaitable `(item) -> result` that runs `fn(conn, items)` once for every item that queued meanwhile."""
        return Coalesced(self, fn)

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The same, from synchronous code (CLI, tests) that must not share the connection across threads."""
        return self._executor.submit(functools.partial(fn, self._conn, *args, **kwargs)).result()

    def close(self) -> None:
        def _close(conn: sqlite3.Connection) -> None:
            conn.close()

        try:
            self._executor.submit(_close, self._conn).result()
        finally:
            self._executor.shutdown(wait=True)


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
                results = await self.db.run(self.fn, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
