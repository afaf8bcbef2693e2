"""GET /media/<expires>/<signature>/<path>: lesson media and certificates behind signed, expiring URLs."""

from __future__ import annotations

import logging

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import Forbidden, NotFound
from sanic.response import file

from coachbox.channels.signed_urls import media_secret, resolve_signed

log = logging.getLogger("coachbox.web.media")

bp = Blueprint("media")


@bp.get("/media/<expires:str>/<signature:str>/<relative_path:path>")
async def media(request: Request, expires: str, signature: str, relative_path: str):
    services = request.app.ctx.services
    secret = await media_secret(services)
    try:
        if not expires.isdigit():
            raise PermissionError("bad expiry")
        full = resolve_signed(
            services.settings.data_dir, secret, int(expires), signature, relative_path, services.clock.now()
        )
    except PermissionError as exc:
        log.info("media URL refused", extra={"reason": str(exc), "path": relative_path})
        raise Forbidden("this link is invalid or has expired") from None
    except FileNotFoundError:
        raise NotFound("not found") from None
    return await file(full)


def setup(app: Sanic) -> None:
    app.blueprint(bp)
