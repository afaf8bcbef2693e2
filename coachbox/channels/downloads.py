"""Downloading a provider's inbound media file to disk, size-limited, never leaving a partial file behind."""

from __future__ import annotations

from pathlib import Path

import httpx


class MediaTooLarge(Exception):
    """The file is over the channel's media size limit (declared or streamed)."""


async def fetch_limited(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    limit: int,
    setting: str,
    *,
    auth: httpx.Auth | tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """GET `url` into `dest` through a .part file; MediaTooLarge (naming `setting`) past `limit` bytes, whether the
    Content-Length says so or the stream does (a missing or lying header)."""
    partial = dest.with_suffix(dest.suffix + ".part")
    async with client.stream("GET", url, auth=auth, headers=headers) as response:
        response.raise_for_status()
        declared = int(response.headers.get("content-length") or 0)
        if declared > limit:
            raise MediaTooLarge(f"{declared} bytes > {setting} {limit}")
        size = 0
        try:
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise MediaTooLarge(f"more than {setting} {limit}")
                    out.write(chunk)
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
