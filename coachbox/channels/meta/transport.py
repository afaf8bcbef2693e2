"""MetaChannel: sends through the WhatsApp Cloud API (Graph API, httpx), maps its error bodies to ChannelError.

httpx rather than pywa: pywa is a whole bot framework (its own webhook server, handlers, typed message objects);
coachbox needs one POST per message whose errors map onto the outbox's ChannelError, and the same AsyncClient
pattern as the tutor's and Twilio media's downloads. The Graph API is plain JSON over HTTPS."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from coachbox.channels.base import ChannelError, Outbound, SendResult
from coachbox.channels.meta import errors
from coachbox.core.config import Settings

log = logging.getLogger("coachbox.meta")

SEND_TIMEOUT_SECONDS = 10.0
CHECK_TIMEOUT_SECONDS = 5.0


def graph_url(settings: Settings, *parts: str) -> str:
    """{api_base_url}/{api_version}/{part}/…"""
    base = settings.meta.api_base_url.rstrip("/")
    return "/".join([base, settings.meta.api_version.strip("/"), *(p.strip("/") for p in parts)])


def recipient(address: str) -> dict[str, str]:
    """Our channel key → who the Cloud API sends to: 'whatsapp:+2547…' → {"to": "2547…"}; a business-scoped user
    id ('whatsapp:US.1349…', a learner known only by WhatsApp username) → {"recipient": "US.1349…"}."""
    rest = address.partition(":")[2] or address
    if rest.startswith("+") or rest.isdigit():
        return {"to": rest.lstrip("+")}
    return {"recipient": rest}


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


def error_from_response(response: httpx.Response, what: str = "Meta") -> ChannelError:
    """A Graph API error answer ({"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}})."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = str(error["code"]) if isinstance(error, dict) and error.get("code") is not None else None
    status = response.status_code
    if code is None and status == 429:
        code = "130429"
    if code is None and status >= 500:
        code = str(status)  # may have been taken: the outbox treats it as unsure
    details = ""
    if isinstance(error, dict):
        data = error.get("error_data")
        details = data.get("details", "") if isinstance(data, dict) else ""
    message = error.get("message", "") if isinstance(error, dict) else ""
    retry_after = None
    if response.headers.get("retry-after", "").isdigit():
        retry_after = float(response.headers["retry-after"])
    return ChannelError(
        f"{what} {status}: {message} {details}".strip(),
        permanent=errors.is_permanent(code, status),
        code=code,
        retry_after=retry_after,
        status=status,
    )


def message_payload(message: Outbound) -> dict[str, Any]:
    """The Cloud API JSON body for one outbox message (text, media by link, template or interactive)."""
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    payload.update(recipient(message.address))
    payload["biz_opaque_callback_data"] = str(message.message_id)  # comes back on its statuses (?m= for Twilio)
    if message.native is not None:
        payload.update(message.native)
        return payload
    if message.media_urls:
        url = message.media_urls[0]
        kind = media_kind(url)
        media: dict[str, Any] = {"link": url}
        if message.body and kind != "audio":
            media["caption"] = message.body
        if kind == "document":
            media["filename"] = url.split("?")[0].rsplit("/", 1)[-1]
        payload.update(type=kind, **{kind: media})
        return payload
    payload.update(type="text", text={"body": message.body, "preview_url": has_link(message.body)})
    return payload


def has_link(body: str) -> bool:
    return "http://" in body or "https://" in body


def media_kind(url: str) -> str:
    path = url.split("?")[0].lower()
    if path.endswith((".jpg", ".jpeg", ".png", ".webp")):
        return "image"
    if path.endswith((".ogg", ".opus", ".mp3", ".m4a", ".aac", ".amr")):
        return "audio"
    if path.endswith((".mp4", ".3gp")):
        return "video"
    return "document"


class MetaChannel:
    kind = "meta"
    # The Cloud API takes no idempotency key and lists no sent messages: after a crash, a claimed row waits this
    # long for the status webhook Meta posts for a message it took (tagged with our row id) before it is resent
    # (channels/reconcile.py). A status later than this (a webhook outage) means a second copy.
    status_settle_seconds = 60.0

    def __init__(self, settings: Settings, *, timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A new event loop (the worker runs one per drain): a client belongs to the loop it was made in.
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.settings.meta.access_token}"},
                limits=httpx.Limits(max_connections=64),
            )
            self._loop = loop
        return self._client

    async def send(self, message: Outbound) -> SendResult:
        client = self._get_client()
        url = graph_url(self.settings, self.settings.meta.phone_number_id, "messages")
        try:
            response = await client.post(url, json=message_payload(message))
        except httpx.ConnectError as exc:
            # The connection was never made: Meta cannot have accepted anything.
            raise ChannelError(f"cannot reach Meta: {exc!r}", code="network") from None
        except httpx.HTTPError as exc:
            # Sent, maybe: the Cloud API has no idempotency key and no listing of sent messages, so the outbox
            # retries it (a rare double); statuses tagged with our id record a copy that did go out.
            raise ChannelError(f"no answer from Meta: {exc!r}", code="timeout") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            wamid = response.json()["messages"][0]["id"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChannelError(f"Meta answered without a message id: {response.text[:200]}", code="timeout") from None
        return SendResult(provider_sid=wamid, status="accepted", provider_time=_http_date(response.headers.get("date")))

    async def close(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._loop = None


@dataclass(frozen=True)
class PhoneNumber:
    """What GET /{phone_number_id} says about the business number (for `coachbox check`)."""

    display_phone_number: str
    verified_name: str
    quality_rating: str
    raw: dict


def _get_json(settings: Settings, *parts: str, params: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {settings.meta.access_token}"}
    try:
        response = httpx.get(graph_url(settings, *parts), params=params, headers=headers, timeout=CHECK_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise ChannelError(f"cannot reach {settings.meta.api_base_url}: {type(exc).__name__}", code="network") from None
    if response.status_code >= 400:
        raise error_from_response(response)
    try:
        return response.json()
    except json.JSONDecodeError:
        raise ChannelError("Meta answered with something that is not JSON", code="network") from None


def fetch_phone_number(settings: Settings) -> PhoneNumber:
    """GET /{version}/{phone_number_id}: proves the token and the phone number id; ChannelError otherwise."""
    data = _get_json(settings, settings.meta.phone_number_id)
    return PhoneNumber(
        display_phone_number=str(data.get("display_phone_number", "")),
        verified_name=str(data.get("verified_name", "")),
        quality_rating=str(data.get("quality_rating", "")),
        raw=data,
    )


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    status: str  # APPROVED | PENDING | REJECTED | PAUSED | DISABLED …
    category: str  # UTILITY | MARKETING | AUTHENTICATION


def list_templates(settings: Settings, *, limit: int = 500) -> list[Template]:
    """GET /{version}/{waba_id}/message_templates, following the paging cursor (at most `limit`)."""
    found: list[Template] = []
    params: dict[str, str] = {"fields": "name,language,status,category", "limit": "100"}
    while len(found) < limit:
        data = _get_json(settings, settings.meta.waba_id, "message_templates", params=params)
        for item in data.get("data") or []:
            found.append(
                Template(
                    name=str(item.get("name", "")),
                    language=str(item.get("language", "")),
                    status=str(item.get("status", "")).upper(),
                    category=str(item.get("category", "")).upper(),
                )
            )
        after = ((data.get("paging") or {}).get("cursors") or {}).get("after")
        if not after or not (data.get("paging") or {}).get("next"):
            break
        params = {**params, "after": after}
    return found
