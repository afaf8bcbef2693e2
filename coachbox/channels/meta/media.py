"""Inbound media from Meta: GET /{media_id} for a short-lived URL, then that URL with the bearer token, size-limited,
into data/media/inbound/ (the same folder, names and safe-type rule as Twilio's media)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from urllib.parse import urlsplit

import httpx

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.channels.downloads import MediaTooLarge, fetch_limited
from coachbox.channels.meta.transport import graph_url
from coachbox.channels.meta.webhook import MEDIA_URL_PREFIX
from coachbox.core.config import Settings
from coachbox.core.hostile import safe_media

log = logging.getLogger("coachbox.meta.media")

DOWNLOAD_TIMEOUT_SECONDS = 5.0
DOWNLOAD_DEADLINE_SECONDS = 8.0  # all of a message's media together: the webhook must still answer quickly
INBOUND_DIR = "media/inbound"  # relative to the data folder (what /media/… signed URLs serve)
# Meta's media URLs are on its CDN (lookaside.fbsbx.com); the token goes there and to the Graph API only.
_META_HOSTS = ("facebook.com", "fbsbx.com", "whatsapp.net", "fbcdn.net")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _token_allowed(url: str, settings: Settings) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    configured = (urlsplit(settings.meta.api_base_url).hostname or "").lower()
    return host == configured or any(host == h or host.endswith("." + h) for h in _META_HOSTS)


async def download_media(settings: Settings, inbound: Inbound, *, deadline: float | None = None) -> Inbound:
    """A copy of `inbound` whose media carry local paths; one that fails (or is late) keeps only its media id."""
    pending = [(i, m) for i, m in enumerate(inbound.media) if m.url.startswith(MEDIA_URL_PREFIX)]
    if not pending:
        return inbound
    target = settings.data_dir / INBOUND_DIR
    target.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {settings.meta.access_token}"}
    limit = settings.meta.media_max_bytes
    # follow_redirects: a CDN may redirect; httpx drops the Authorization header when the host changes.
    async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_SECONDS, follow_redirects=True) as client:

        async def one(index: int, item: InboundMedia) -> InboundMedia:
            media_id = item.url.removeprefix(MEDIA_URL_PREFIX)
            content_type, extension = safe_media(item.content_type)
            name = f"{_SAFE.sub('_', inbound.provider_sid)}-{index}{extension}"
            try:
                info = await client.get(graph_url(settings, media_id), headers=headers)
                info.raise_for_status()
                details = info.json()
                declared = int(details.get("file_size") or 0)
                if declared > limit:
                    raise MediaTooLarge(f"{declared} bytes > [meta] media_max_bytes {limit}")
                url = str(details["url"])
                await fetch_limited(
                    client,
                    url,
                    target / name,
                    limit,
                    "[meta] media_max_bytes",
                    headers=headers if _token_allowed(url, settings) else {},
                )
            except (httpx.HTTPError, MediaTooLarge, OSError, KeyError, ValueError, TypeError) as exc:
                log.warning("inbound media not downloaded", extra={"sid": inbound.provider_sid, "error": repr(exc)})
                return item
            return dataclasses.replace(item, path=f"{INBOUND_DIR}/{name}", content_type=content_type)

        tasks = {index: asyncio.ensure_future(one(index, item)) for index, item in pending}
        deadline = DOWNLOAD_DEADLINE_SECONDS if deadline is None else deadline
        done, late = await asyncio.wait(tasks.values(), timeout=deadline)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
            log.warning("inbound media not downloaded in time", extra={"sid": inbound.provider_sid, "late": len(late)})
    stored = [tasks[i].result() if i in tasks and tasks[i] in done else item for i, item in enumerate(inbound.media)]
    return dataclasses.replace(inbound, media=tuple(stored))
