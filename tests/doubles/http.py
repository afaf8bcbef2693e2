"""What every local HTTP test double shares: a threaded server on 127.0.0.1 that answers without delay."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops SYNs when a client opens its pool of connections at once,
    # which shows up as 1-7 s connect stalls (and timeouts) in the code under test.
    request_queue_size = 128


class QuickHandler(BaseHTTPRequestHandler):
    """Base request handler: keep-alive HTTP/1.1 with Nagle off.

    Without disable_nagle_algorithm, keep-alive replies wait on Nagle + delayed ACK: ~40 ms per call through
    the real client libraries (STACK-NOTES.md).
    """

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        return  # tests stay quiet; the doubles record what they received instead


def serve(handler: type[BaseHTTPRequestHandler], name: str) -> LocalServer:
    """Start `handler` on a free loopback port in a daemon thread; stop with `shutdown_server`."""
    server = LocalServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True).start()
    return server


def shutdown_server(server: LocalServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def base_url(server: LocalServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
