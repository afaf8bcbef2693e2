"""Inbound media (photos, voice notes): downloaded with the account's credentials into data/media/inbound/."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from urllib.parse import urlsplit

import httpx

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.channels.downloads import MediaTooLarge, fetch_limited
from coachbox.channels.twilio.urls import rewrite_url
from coachbox.core.config import Settings
from coachbox.core.hostile import safe_media

log = logging.getLogger("coachbox.twilio.media")

DOWNLOAD_TIMEOUT_SECONDS = 5.0  # each connect/read; the webhook must still answer well inside Twilio's 15 s
# All of a message's media together (up to 10, fetched at once): a slow CDN or a trickling download must not push
# the webhook past Twilio's 15 s (Twilio would retry it). What is not in by then keeps its URL only.
DOWNLOAD_DEADLINE_SECONDS = 8.0
INBOUND_DIR = "media/inbound"  # relative to the data folder (what /media/… signed URLs serve)
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _credentials_allowed(url: str, settings: Settings) -> bool:
    """Send the account's credentials only to Twilio (or the configured compatible API), never elsewhere."""
    host = (urlsplit(url).hostname or "").lower()
    configured = (urlsplit(settings.twilio.api_base_url).hostname or "").lower()
    return host == configured or host == "twilio.com" or host.endswith(".twilio.com")


async def download_media(settings: Settings, inbound: Inbound, *, deadline: float | None = None) -> Inbound:
    """A copy of `inbound` whose media carry local paths; a file that fails to download (or is not in within
    `deadline` seconds, all files together) keeps only its URL."""
    if not inbound.media:
        return inbound
    target = settings.data_dir / INBOUND_DIR
    target.mkdir(parents=True, exist_ok=True)
    auth = (settings.twilio.account_sid, settings.twilio.auth_token)
    # follow_redirects: Twilio answers with a redirect to its media CDN; httpx drops the credentials there.
    async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_SECONDS, follow_redirects=True) as client:

        async def one(index: int, item: InboundMedia) -> InboundMedia:
            url = rewrite_url(item.url, settings.twilio.api_base_url)
            # The sender chooses the claimed type: only an allow-listed one keeps its extension (a claimed
            # text/html or image/svg+xml is stored as .bin and served as application/octet-stream by /media).
            content_type, extension = safe_media(item.content_type)
            name = f"{_SAFE.sub('_', inbound.provider_sid)}-{index}{extension}"
            try:
                await fetch_limited(
                    client,
                    url,
                    target / name,
                    settings.twilio.media_max_bytes,
                    "[twilio] media_max_bytes",
                    auth=auth if _credentials_allowed(url, settings) else None,
                )
            except (httpx.HTTPError, MediaTooLarge, OSError) as exc:
                log.warning("inbound media not downloaded", extra={"sid": inbound.provider_sid, "error": repr(exc)})
                return item
            return dataclasses.replace(item, path=f"{INBOUND_DIR}/{name}", content_type=content_type)

        tasks = [asyncio.ensure_future(one(index, item)) for index, item in enumerate(inbound.media)]
        deadline = DOWNLOAD_DEADLINE_SECONDS if deadline is None else deadline
        done, late = await asyncio.wait(tasks, timeout=deadline)
        for task in late:
            task.cancel()  # fetch_limited removes its partial file on the way out
        if late:
            await asyncio.wait(late)
            log.warning(
                "inbound media not downloaded in time",
                extra={"sid": inbound.provider_sid, "late": len(late), "seconds": deadline},
            )
    stored = [task.result() if task in done else item for task, item in zip(tasks, inbound.media)]
    return dataclasses.replace(inbound, media=tuple(stored))
