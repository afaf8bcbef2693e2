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
