"""A cheap open-loop HTTP/1.1 generator: each request leaves at its scheduled time, its latency counted from then.

The benches used aiohttp for their open loops: ~0.3 ms of CPU a request, which on this 2-core box is a third of a
core at 1,000 req/s and most of one at 2,700 (issue #15's five times capacity), taken from the server it measures.
Twilio's requests come from elsewhere. This one writes prepared bytes on kept-alive connections and reads each
answer's status line and Content-Length with asyncio protocols (uvloop when installed): ~0.03 ms a request.
Like Twilio, it never pipelines: a connection carries one request at a time, and a request due while every
connection is busy opens another (up to `connections`) or waits for the first free one, the wait counted as
latency. The generator's own lateness is reported apart (`sent - scheduled`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Tick = Callable[[float], None]
TIMEOUT = -1  # status of a request not answered within the timeout
FAILED = -2  # the connection broke under it


def request_bytes(host: str, path: str, body: str, headers: dict[str, str]) -> bytes:
    """One prepared POST (form body) as it goes on the wire."""
    data = body.encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@dataclass
class Results:
    """Per request, in schedule order: perf_counter() instants and the HTTP status (or TIMEOUT / FAILED)."""

    scheduled: list[float]
    sent: list[float]
    done: list[float]
    status: list[int]
    connections: int = 0  # opened in all
    lag: list[tuple[float, float]] = field(default_factory=list)  # (when, how late a 10 ms sleep woke up)


class _Connection(asyncio.Protocol):
    """One kept-alive connection: one request in flight at most."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.current = -1  # index of the request in flight
        self.buffer = b""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.pool.ready(self)

    def send(self, index: int) -> None:
        self.current = index
        self.pool.results.sent[index] = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.pool.requests[index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.current >= 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            status = int(self.buffer[9:12])
            self.buffer = self.buffer[end + 4 + length :]
            index, self.current = self.current, -1
            self.pool.answered(self, index, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class _Pool:
    def __init__(self, host: str, port: int, requests: list[bytes], connections: int) -> None:
        self.host, self.port, self.requests, self.limit = host, port, requests, connections
        total = len(requests)
        self.results = Results([0.0] * total, [0.0] * total, [0.0] * total, [0] * total)
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.waiting: deque[int] = deque()  # due requests with no free connection, oldest first
        self.opening = 0
        self.open = 0
        self.finished = 0
        self.all_done = asyncio.get_running_loop().create_future()
        self.connecting: set[asyncio.Task] = set()  # the loop holds tasks only weakly

    def dispatch(self, index: int) -> None:
        if self.idle:
            connection = self.idle.pop()
            self.busy.add(connection)
            connection.send(index)
            return
        self.waiting.append(index)
        if self.open + self.opening < self.limit:
            self._open_one()

    def _open_one(self) -> None:
        self.opening += 1
        self.results.connections += 1
        task = asyncio.ensure_future(self._connect())
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            if self.waiting:  # nothing will carry it: count it failed rather than wait for ever
                self._finish(self.waiting.popleft(), FAILED)

    def ready(self, connection: _Connection) -> None:
        self.opening -= 1
        self.open += 1
        self._next(connection)

    def _next(self, connection: _Connection) -> None:
        if self.waiting:
            self.busy.add(connection)
            connection.send(self.waiting.popleft())
        else:
            self.busy.discard(connection)
            self.idle.append(connection)

    def answered(self, connection: _Connection, index: int, status: int) -> None:
        self._finish(index, status)
        self._next(connection)

    def lost(self, connection: _Connection) -> None:
        self.open -= 1
        self.busy.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if connection.current >= 0:
            index, connection.current = connection.current, -1
            self._finish(index, FAILED)  # nothing if it was answered or timed out already
        if self.waiting and self.open + self.opening < self.limit:
            self._open_one()

    def _finish(self, index: int, status: int) -> None:
        if self.results.done[index]:
            return
        self.results.done[index] = time.perf_counter()
        self.results.status[index] = status
        self.finished += 1
        if self.finished == len(self.requests) and not self.all_done.done():
            self.all_done.set_result(None)

    def expire(self, timeout: float) -> None:
        """Requests in flight past the timeout (from their scheduled time) are timeouts; their connection closes."""
        oldest = time.perf_counter() - timeout
        for connection in list(self.busy):
            index = connection.current
            if index >= 0 and self.results.scheduled[index] < oldest:
                self._finish(index, TIMEOUT)
                assert connection.transport is not None
                connection.transport.abort()
        while self.waiting and self.results.scheduled[self.waiting[0]] < oldest:
            self._finish(self.waiting.popleft(), TIMEOUT)


async def _run(
    host: str, port: int, requests: list[bytes], rate: float, timeout: float, connections: int, tick: Tick | None
) -> Results:
    pool = _Pool(host, port, requests, connections)
    results = pool.results
    total = len(requests)
    if not total:
        return results
    start = time.perf_counter() + 0.5
    for i in range(total):
        results.scheduled[i] = start + i / rate
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            results.lag.append((now, now - before - 0.01))
            pool.expire(timeout)
            if tick is not None:
                tick(now)

    watcher = asyncio.ensure_future(watch())
    i = 0
    while i < total:
        now = time.perf_counter()
        if results.scheduled[i] > now:
            # Never less than 1 ms: the loop's timers count whole milliseconds, and a shorter sleep returns at
            # once (a busy wait that took a core). Requests due meanwhile leave together, up to 1 ms late.
            await asyncio.sleep(max(results.scheduled[i] - now, 0.001))
            continue
        while i < total and results.scheduled[i] <= now:
            pool.dispatch(i)
            i += 1
    await pool.all_done
    stop.set()
    await watcher
    for connection in pool.idle + list(pool.busy):
        if connection.transport is not None:
            connection.transport.close()
    return results


def run(
    host: str,
    port: int,
    requests: list[bytes],
    rate: float,
    *,
    timeout: float = 15.0,
    connections: int = 1024,
    tick: Tick | None = None,
) -> Results:
    """Send `requests` at `rate` a second, in order, on their own event loop (uvloop when installed); `tick(now)`
    is called every ~10 ms meanwhile (the bench samples file sizes)."""
    main = _run(host, port, requests, rate, timeout, connections, tick)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with Sanic on Linux
        return asyncio.run(main)
    return uvloop.run(main)
