"""The benches' open-loop generator (bench/open_loop.py) counts what a server did: its figures are only as honest."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import open_loop  # noqa: E402


def _serve(ready: threading.Event, port: list[int], stop: threading.Event) -> None:
    """A tiny HTTP/1.1 server: /slow answers after 0.2 s, /never does not answer, /drop closes, else 204 at once."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                path = head.split(b" ")[1]
                if path == b"/never":
                    await asyncio.sleep(30)
                if path == b"/drop":
                    writer.close()
                    return
                if path == b"/slow":
                    await asyncio.sleep(0.2)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, family=socket.AF_INET)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()

    asyncio.run(main())


def test_latency_counts_from_the_schedule_and_every_request_ends_answered_timed_out_or_failed():
    ready, stop, port = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=_serve, args=(ready, port, stop), daemon=True)
    thread.start()
    assert ready.wait(5)
    paths = ["/fast"] * 40 + ["/slow"] * 5 + ["/never", "/drop"]
    requests = [open_loop.request_bytes(f"127.0.0.1:{port[0]}", p, "a=1", {}) for p in paths]
    try:
        got = open_loop.run("127.0.0.1", port[0], requests, rate=200, timeout=1.0)
    finally:
        stop.set()
        thread.join(5)
    assert got.status[:45] == [200] * 45
    assert got.status[45] == open_loop.TIMEOUT and got.status[46] == open_loop.FAILED
    latencies = [done - scheduled for done, scheduled in zip(got.done, got.scheduled)]
    assert all(0.2 <= latency < 1.0 for latency in latencies[40:45])  # the server's delay, counted in full
    assert 1.0 <= latencies[45] < 2.0  # timed out after the timeout, from its scheduled time
    # Requests left on schedule (200 a second): each at or after its time, never before.
    assert all(sent >= scheduled for sent, scheduled in zip(got.sent, got.scheduled))
    # One request at a time per connection: the slow ones made the generator open more than one.
    assert got.connections > 1
