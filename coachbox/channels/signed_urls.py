"""Signed, expiring URLs for files under data/ (lesson media, certificates, MYDATA exports) for Twilio, Meta, learners.

Signing is the channels' business (the outbox signs media at send time); the /media route (web.media) only
checks a signature and serves the file."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from coachbox.core import constant_time
from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.store.secret_key import ensure_secret_key

SERVED_ROOTS = ("media", "certificates", "exports")  # folders under data/ that may be served, nothing else
DOWNLOADS = frozenset({"exports"})  # served as an attachment: a learner's own data (MYDATA), JSON, never cached


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
    if not constant_time.equal(_signature(secret, path, expires), signature):
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
    """The signing key ([server] secret_key, else the generated key file outside data/), read once per process."""
    secret = services.media_secret
    if secret is None:
        secret = await services.db.run(ensure_secret_key, services.settings)
        services.media_secret = secret
    return secret
