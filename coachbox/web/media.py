"""GET /media/<expires>/<signature>/<path>: lesson media and certificates behind signed, expiring URLs."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import Forbidden, NotFound
from sanic.response import file

from coachbox.channels.signed_urls import DOWNLOADS, media_secret, resolve_signed
from coachbox.core.hostile import served_type

log = logging.getLogger("coachbox.web.media")

bp = Blueprint("media")
# A file served here is never a page: it loads nothing, runs nothing (sandbox), and sits in nobody's frame.
MEDIA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


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
    # By our allow-list, never by what a sender claimed or a browser sniffs: an image, audio or video shows inline;
    # a PDF or anything else downloads (attachment), so no file can run as a page on the admin's origin.
    content_type, inline = served_type(full.name)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
    }
    if not inline:
        headers["Content-Disposition"] = f'attachment; filename="{_ascii_name(full.name)}"'
    if PurePosixPath(relative_path).parts[0] in DOWNLOADS:  # a learner's own data (MYDATA): theirs, nobody's cache
        content_type = "application/json"
        headers |= {"Content-Disposition": 'attachment; filename="my-data.json"', "Cache-Control": "no-store"}
    return await file(full, mime_type=content_type, headers=headers)


def _ascii_name(name: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in name) or "file"


def setup(app: Sanic) -> None:
    app.blueprint(bp)
