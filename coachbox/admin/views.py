"""Wires the admin page into the app: templates, static files and one blueprint per area."""

from __future__ import annotations

import asyncio

from sanic import Request, Sanic
from sanic.exceptions import PayloadTooLarge
from sanic.response import HTTPResponse, redirect

from coachbox.admin import (
    api,
    auth,
    broadcasts,
    certificates,
    classes,
    costs,
    courses,
    dashboard,
    enrol,
    inbox,
    learners,
    live,
    operations,
    simulator,
    users,
)
from coachbox.admin.pages import STATIC, build_environment, security_headers, too_large_page
from coachbox.admin.times import Times
from coachbox.core import events

# One module per area, each with a `bp` blueprint; enrol before learners: /learners/enrol is not a learner id.
AREAS = (
    auth,
    users,
    dashboard,
    enrol,
    learners,
    classes,
    inbox,
    live,
    courses,
    broadcasts,
    certificates,
    costs,
    simulator,
    operations,
    api,
)


def setup(app: Sanic) -> None:
    org = app.ctx.settings.org
    # Per app: its pages show times in [org] default_timezone and default_language, "ago" from the app's clock
    # (the services, and so the clock, are built when the server starts: looked up at each call).
    app.ctx.admin_env = build_environment(
        Times.for_org(org.default_timezone, org.default_language, lambda: app.ctx.services.clock.now())
    )
    # Static files change only with a release; a day of caching saves every page view a round trip on slow links.
    app.static("/admin/static", str(STATIC), name="admin_static")
    for area in AREAS:
        app.blueprint(area.bp)
    inbox.setup(app)  # the menu's count of open conversations on every admin page
    app.error_handler.add(PayloadTooLarge, _too_large)
    app.add_route(_home, "/", name="home")

    @app.after_server_start
    async def _relay_events(app: Sanic) -> None:
        # The worker's commits (a broadcast's fan-out, lessons it sent) reach open live pages within a second.
        app.ctx.events_relay = asyncio.get_running_loop().create_task(events.relay_to_hub(app.ctx.services))
        dashboard.start_warmer(app)  # the dashboard's once-a-minute figures, read before a teacher asks

    @app.before_server_stop
    async def _stop_relay(app: Sanic) -> None:
        task = getattr(app.ctx, "events_relay", None)
        if task is not None:
            task.cancel()
        await dashboard.stop_warmer(app)

    @app.on_response
    async def _admin_headers(request: Request, response: HTTPResponse) -> None:
        if request.path.startswith("/admin/static/"):
            response.headers["Cache-Control"] = "public, max-age=86400"
            response.headers["X-Content-Type-Options"] = "nosniff"
        elif request.path.startswith("/admin") and "Content-Security-Policy" not in response.headers:
            security_headers(response)


async def _home(request: Request) -> HTTPResponse:
    """The box's address in a browser leads to the admin page (it signs the visitor in first)."""
    return redirect("/admin/")


def _too_large(request: Request, exception: Exception) -> HTTPResponse:
    """A body over a limit (an upload, or any form past [server] max_body_bytes): a page in words on the admin
    pages, where a browser shows it; the app's usual JSON everywhere else (webhooks, the JSON API)."""
    if request.path.startswith("/admin/"):
        return too_large_page(request, exception)
    return request.app.error_handler.default(request, exception)
