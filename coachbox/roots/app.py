"""Sanic app factory: create_app(settings) wires one setup per feature and the process lifecycle."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid

from sanic import Request, Sanic
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

from coachbox.admin import payments as admin_payments
from coachbox.admin import views as admin_views
from coachbox.admin.pages import error_page, wants_page
from coachbox.core.addresses import client_ip
from coachbox.core.config import Settings
from coachbox.core.logs import request_fields, request_id, sanic_log_config
from coachbox.core.services import Services
from coachbox.jobs.tasks import register
from coachbox.roots.services import build_services
from coachbox.web import bodies as web_bodies
from coachbox.web import headers as web_headers
from coachbox.web import health as web_health
from coachbox.web import media as web_media
from coachbox.web import payments as web_payments
from coachbox.web import simulator as web_simulator
from coachbox.web import verify as web_verify
from coachbox.web import webhooks as web_webhooks

log = logging.getLogger("coachbox.web")

# One `setup(app)` per feature; each registers its blueprint(s) and listeners.
FEATURES = (
    web_bodies,  # NUL bytes in a path refused first
    web_health,
    admin_views,
    web_webhooks,
    web_media,
    web_verify,
    web_simulator,
    web_payments,
    admin_payments,
    web_headers,  # nosniff, Referrer-Policy and a CSP on every response, errors included
)


class _QuietErrorHandler(ErrorHandler):
    """Clear 4xx for bad input, a bare 500 for our bugs: never a traceback to the caller. Programs get JSON; a
    browser asking for a page gets the same answer as a page in words with a way back."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, asyncio.CancelledError):
            # The client hung up mid-request (Sanic cancels the handler): nobody to answer, and not our bug.
            log.info("request cancelled: the client went away", extra={"path": request.path})
            return json({"error": "request cancelled"}, status=503)
        if isinstance(exception, OverflowError):
            # An id beyond SQLite's 64-bit integers in a URL (/learners/99999999999999999999): no such row.
            log.info("request rejected: number out of range", extra={"path": request.path})
            return self._answer(request, 404, "not found", "There is no such page.")
        status = getattr(exception, "status_code", 500) or 500
        if status >= 500:
            log.exception("unhandled error", extra={"path": request.path})
            if wants_page(request):
                message = f"Something went wrong on our side. It is logged as request {request_id.get()}."
                return error_page(request, 500, message)
            return json({"error": "internal error", "request_id": request_id.get()}, status=500)
        log.info("request rejected", extra={"path": request.path, "status": status, "reason": str(exception)})
        return self._answer(request, status, str(exception) or "bad request", str(exception) or "")

    @staticmethod
    def _answer(request: Request, status: int, error: str, words: str) -> HTTPResponse:
        if wants_page(request):
            if status == 404 and (not words or words.startswith("Requested URL")):
                words = "There is no such page. It may have moved, or the link is incomplete."
            return error_page(request, status, words or "That did not work.")
        return json({"error": error}, status=status)


def create_app(settings: Settings, services: Services | None = None, *, name: str = "coachbox") -> Sanic:
    """Build the app. Tests pass ready-made `services`; a served app builds them in each worker process."""
    # SafeRequest: one strict JSON parser (depth, lone surrogates) behind every route's request.json.
    app = Sanic(
        name, error_handler=_QuietErrorHandler(), log_config=sanic_log_config(), request_class=web_bodies.SafeRequest
    )
    app.config.REQUEST_MAX_SIZE = settings.server.max_body_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.config.OAS = False
    app.ctx.settings = settings
    app.ctx.services = services
    app.ctx.metrics = {"requests": {}, "started": time.time()}

    @app.before_server_start
    async def _open(app: Sanic) -> None:
        if app.ctx.services is None:
            app.ctx.services = build_services(settings)
            app.ctx.owns_services = True
        if app.ctx.services.tasks is None:
            # Handles for enqueuing follow-ups (tutor answers, certificates…) after a turn commits; the tasks
            # themselves run in the worker, which registers the same names on the same queue.
            app.ctx.services.tasks = register(app.ctx.services.huey, settings).extra

    @app.after_server_stop
    async def _close(app: Sanic) -> None:
        if getattr(app.ctx, "owns_services", False):
            await app.ctx.services.aclose()

    @app.before_server_start
    async def _request_ids(app: Sanic) -> None:
        # A random prefix per worker and a counter: as unique as uuid4 per request, without a urandom call each.
        app.ctx.request_ids = (uuid.uuid4().hex[:8], itertools.count())

    @app.on_request
    async def _start(request: Request) -> None:
        rid = request.headers.get("x-request-id")
        if not rid:
            prefix, counter = app.ctx.request_ids
            rid = f"{prefix}{next(counter):08x}"
        request.ctx.request_id = rid
        request_id.set(rid)
        route = request.route.path if request.route else "unmatched"
        request_fields.set({"ip": client_ip(request), "route": f"{request.method} /{route.lstrip('/')}"})

    @app.on_response
    async def _finish(request: Request, response: HTTPResponse) -> None:
        route = request.route.path if request.route else "unmatched"
        key = (request.method, route, response.status)
        counts = app.ctx.metrics["requests"]
        counts[key] = counts.get(key, 0) + 1
        response.headers["X-Request-Id"] = getattr(request.ctx, "request_id", "")

    for feature in FEATURES:
        feature.setup(app)
    return app
