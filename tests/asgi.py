"""The in-process test client, started once per app instead of once per request.

sanic-testing's `SanicASGITestClient.request` resets the app's routers and runs its whole start-up (compile the
router, the signals and the middleware, and Sanic's TouchUp, which recompiles methods of Sanic's classes for the
app's signals) before every request: ~0.14 s each, most of the suite's CPU (2/3 of an admin test module's time).
A running box does that once per worker. `install()` makes the client do it only when it would change something:

- the first request to an app, or after another app (or a real server in this process) started since, since
  TouchUp's recompiled methods live on Sanic's classes and follow the last app started;
- after a route, a signal, a listener or a middleware was added, or a router reset, since the last start-up.

Every other step is sanic-testing's (24.6): the server's init and shutdown events around each request, the
request collector, the TestingResponse.
"""

from __future__ import annotations

import os
import typing
import warnings
from importlib.metadata import version

from sanic import Sanic
from sanic.touchup import TouchUp
from sanic_testing import testing

_started: dict[str, typing.Any] = {"app": None, "shape": None, "touched": None}


def _touched() -> dict[tuple[type, str], object]:
    """The methods TouchUp recompiled at the last start-up (of any app) in this process."""
    return {(target, name): getattr(target, name) for target, name in TouchUp._registry}


def _shape(app: Sanic) -> tuple:
    """What a start-up builds from: a change to it means the next request starts the app again."""
    return (
        app.router.finalized,
        app.signal_router.finalized,
        len(app.router.routes),
        len(app.signal_router.routes),
        sum(len(handlers) for handlers in app.listeners.values()),
        len(app.request_middleware),
        len(app.response_middleware),
        len(app.named_request_middleware),
        len(app.named_response_middleware),
    )


def _warm(app: Sanic) -> bool:
    # By id: Sanic instances take no weak reference, and a strong one would keep a finished test's app alive. A new
    # app that reuses a freed one's id has not started: its state and routers say so.
    return (
        _started["app"] == id(app)
        and app.state.is_started
        and _started["shape"] == _shape(app)
        and _started["touched"] == _touched()
    )


async def request(self: testing.SanicASGITestClient, method, url, gather_request=True, *args, **kwargs):
    app = self.sanic_app
    if not _warm(app):
        app.router.reset()
        app.signal_router.reset()
        await app._startup()
    await app._server_event("init", "before")
    await app._server_event("init", "after")
    for route in app.router.routes:
        if self._collect_request not in route.extra.request_middleware:
            route.extra.request_middleware.appendleft(self._collect_request)

    if not url.startswith(("http:", "https:", "ftp:", "ftps://", "//", "ws:", "wss:")):
        url = url if url.startswith("/") else f"/{url}"
        scheme = "ws" if method == "websocket" else "http"
        url = f"{scheme}://{testing.ASGI_HOST}:{testing.ASGI_PORT}{url}"

    if self._collect_request not in app.request_middleware:
        app.request_middleware.appendleft(self._collect_request)
    _started.update(app=id(app), shape=_shape(app), touched=_touched())

    self.gather_request = gather_request
    response = await super(testing.SanicASGITestClient, self).request(method, url, *args, **kwargs)

    await app._server_event("shutdown", "before")
    await app._server_event("shutdown", "after")

    response.__class__ = testing.TestingResponse
    if gather_request:
        return self.last_request, response
    return None, response


STOCK = "COACHBOX_TEST_STOCK_CLIENT"  # set (to anything) to run with sanic-testing's own request, as it ships
COPIED_FROM = "24."  # the sanic-testing release whose `request` the one above follows, step for step


def install() -> None:
    """Use `request` above for every SanicASGITestClient (app.asgi_client included), unless $COACHBOX_TEST_STOCK_CLIENT
    is set or sanic-testing is another release than the one it was copied from (then: a warning, and the stock one)."""
    if os.environ.get(STOCK):
        return
    found = version("sanic-testing")
    if not found.startswith(COPIED_FROM):
        warnings.warn(
            f"tests/asgi.py follows sanic-testing {COPIED_FROM}x, found {found}: the stock test client runs (slower); "
            "compare its SanicASGITestClient.request with tests/asgi.py and update COPIED_FROM",
            stacklevel=1,
        )
        return
    testing.SanicASGITestClient.request = request
