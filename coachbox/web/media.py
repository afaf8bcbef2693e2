"""GET /media/<expires>/<signature>/<path>: lesson media and certificates behind signed, expiring URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import Forbidden, NotFound
from sanic.response import file

from coachbox.core.config import Settings
from coachbox.core.services import Services

log = logging.getLogger("coachbox.web.media")

bp = Blueprint("media")
SERVED_ROOTS = ("media", "certificates")  # folders under data/ that may be served, nothing else


def _clean(relative_path: str) -> str:
    """A normalised 'media/…' or 'certificates/…' path; ValueError for anything that could leave them."""
    parts = PurePosixPath(relative_path).parts
    if (
        not parts
        or parts[0] not in SERVED_ROOTS
        or any(p in ("..", ".", "") or "\\" in p for p in parts)
        or PurePosixPath(relative_path).is_absolute()
    ):
        raise ValueError(f"not a servable media path: {relative_path!r}")
    return "/".join(parts)


def _signature(secret: str, relative_path: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"{expires}:{relative_path}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def signed_media_url(settings: Settings, secret: str, relative_path: str, expires_at: datetime) -> str:
    """A URL on [server] public_url that serves data/<relative_path> until expires_at."""
    path = _clean(relative_path)
    expires = int(expires_at.timestamp())
    return f"{settings.server.public_url.rstrip('/')}/media/{expires}/{_signature(secret, path, expires)}/{quote(path)}"


def resolve_signed(
    data_dir: Path, secret: str, expires: int, signature: str, relative_path: str, now: datetime
) -> Path:
    """The file a signed URL names; PermissionError when forged or expired, FileNotFoundError when gone."""
    try:
        path = _clean(relative_path)
    except ValueError:
        raise PermissionError("bad path") from None
    if not hmac.compare_digest(_signature(secret, path, expires), signature):
        raise PermissionError("bad signature")
    if now.timestamp() > expires:
        raise PermissionError("expired")
    full = (data_dir / path).resolve()
    root = (data_dir / PurePosixPath(path).parts[0]).resolve()
    if not full.is_relative_to(root):  # a symlink pointing out of data/
        raise PermissionError("outside the media folders")
    if not full.is_file():
        raise FileNotFoundError(path)
    return full


async def media_secret(services: Services) -> str:
    """The signing key ([server] secret_key or the generated one in box_state), read once per process."""
    secret = services.media_secret
    if secret is None:
        from coachbox.roots.appliance import ensure_secret_key

        secret = await services.db.run(ensure_secret_key, services.settings)
        services.media_secret = secret
    return secret


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
