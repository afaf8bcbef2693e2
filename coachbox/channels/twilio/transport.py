"""TwilioChannel: sends through the official twilio client (async), maps Twilio errors to ChannelError."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from coachbox.channels.base import ChannelError, Outbound, SendResult
from coachbox.channels.twilio import errors
from coachbox.channels.twilio.urls import rewrite_url
from coachbox.core.config import Settings

log = logging.getLogger("coachbox.twilio")

SEND_TIMEOUT_SECONDS = 10.0
CHECK_TIMEOUT_SECONDS = 5.0
LOOKUP_LIMIT = 100

# Twilio's 429 answers may carry Retry-After; the client library drops headers when it raises, so the
# HTTP client notes it here (a context variable: one value per asyncio task, i.e. per concurrent send).
_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar("twilio_retry_after", default=None)
# Twilio's clock at its last answer (the HTTP Date header), per asyncio task like Retry-After: the look-up before a
# resend counts its window on Twilio's clock, not the box's (channels/reconcile.py), and /healthz shows the offset.
_provider_time: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("twilio_date", default=None)


class _AsyncHttp(AsyncTwilioHttpClient):
    """The library's aiohttp client with base-URL rewriting, a total timeout and Retry-After capture."""

    def __init__(self, api_base_url: str, timeout: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.api_base_url = api_base_url
        # Built inside the running loop (see TwilioChannel._get_client): a session belongs to its loop.
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(limit=64),
        )

    async def request(
        self,
        method: str,
        url: str,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ) -> Response:
        headers = dict(headers or {})
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if isinstance(data, dict):
            # The form body as aiohttp's FormData would write it (urlencode, doseq, UTF-8), made here: FormData builds
            # a multipart writer and quotes field by field, a fifth of a send's CPU (issue #15, py-spy at 275
            # sends/s). The Content-Type is twilio-python's (ClientBase sets it on every POST).
            data = urlencode(list(data.items()), doseq=True).encode()
        async with self.session.request(
            method.upper(),
            rewrite_url(url, self.api_base_url),
            params=params,
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            _provider_time.set(parse_http_date(response.headers.get("Date")))
            if response.status >= 400:
                _retry_after.set(_parse_retry_after(response.headers.get("Retry-After")))
            return Response(response.status, text, response.headers)


class _SyncHttp(TwilioHttpClient):
    """The library's requests client with base-URL rewriting (for `coachbox check`)."""

    def __init__(self, api_base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.api_base_url = api_base_url

    provider_time: datetime | None = None  # Twilio's clock at the last answer (its Date header)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response = super().request(method, rewrite_url(url, self.api_base_url), *args, **kwargs)
        self.provider_time = parse_http_date(response.headers.get("Date"))
        return response


def _parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP-date: rare from Twilio, and our own backoff is long enough


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP Date header ("Mon, 02 Mar 2026 05:00:00 GMT") as an aware datetime; None if absent or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


def to_address(channel_key: str) -> str:
    """Our channel key → Twilio's To: 'whatsapp:+2547…' and 'whatsapp:KE.x' stay, 'sms:+2547…' → '+2547…'."""
    return channel_key.removeprefix("sms:")


def from_address(settings: Settings, channel_key: str) -> str:
    if channel_key.startswith("sms:"):
        return settings.twilio.sms_from or settings.twilio.whatsapp_from.removeprefix("whatsapp:")
    sender = settings.twilio.whatsapp_from
    return sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"


@dataclass(frozen=True)
class SentListing:
    """What Twilio listed, and its clock when it answered (None: no Date header to go by)."""

    messages: list[SentMessage]
    provider_time: datetime | None


@dataclass(frozen=True)
class SentMessage:
    """A message as Twilio lists it (for reconciliation after a crash or a timeout)."""

    sid: str
    to: str
    body: str
    status: str
    date_created: datetime | None


class TwilioChannel:
    kind = "twilio"

    def __init__(self, settings: Settings, *, timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client: Client | None = None
        self._http: _AsyncHttp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> Client:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A new event loop (the worker runs one per drain): the old session cannot be used from it.
            self._http = _AsyncHttp(self.settings.twilio.api_base_url, self.timeout)
            # environment={} so TWILIO_EDGE/TWILIO_REGION in the process environment cannot redirect us.
            self._client = Client(
                self.settings.twilio.account_sid,
                self.settings.twilio.auth_token,
                http_client=self._http,
                environment={},
            )
            self._loop = loop
            self._client.messages  # noqa: B018 - imports the REST modules now, not inside the first rate slot
        return self._client

    async def send(self, message: Outbound) -> SendResult:
        client = self._get_client()
        params: dict[str, Any] = {
            "to": to_address(message.address),
            "from_": from_address(self.settings, message.address),
        }
        if message.content_sid:
            params["content_sid"] = message.content_sid
            if message.content_variables:
                params["content_variables"] = message.content_variables
        else:
            params["body"] = message.body
        if message.media_urls:
            params["media_url"] = list(message.media_urls)
        if message.status_callback:
            params["status_callback"] = message.status_callback
        _retry_after.set(None)
        _provider_time.set(None)
        try:
            created = await client.messages.create_async(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _channel_error(exc, _retry_after.get()) from None
        except aiohttp.ClientConnectorError as exc:
            # The connection was never made: Twilio cannot have accepted anything.
            raise ChannelError(f"cannot reach Twilio: {exc}", code="network") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The request may have reached Twilio: the sender looks it up before any resend.
            raise ChannelError(f"no answer from Twilio: {exc!r}", code="timeout") from None
        return SendResult(
            provider_sid=created.sid, status=created.status or "queued", provider_time=_provider_time.get()
        )

    async def find_sent(self, address: str, since: datetime) -> SentListing:
        """The newest messages Twilio holds to this address, queued ones included (GET Messages.json?To=), and
        Twilio's clock when it answered.

        `since` is for the caller's filter (date_created, on Twilio's clock); it is not sent, see below."""
        client = self._get_client()
        _provider_time.set(None)
        try:
            # No DateSent filter: Twilio fills date_sent only once a message leaves its queue, so that filter
            # would hide exactly the message we may have just handed over. Twilio lists newest first; messages
            # to one learner since a claim are few, so the newest LOOKUP_LIMIT cover them.
            found = await client.messages.list_async(to=to_address(address), limit=LOOKUP_LIMIT, page_size=LOOKUP_LIMIT)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _channel_error(exc, None) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelError(f"cannot list messages at Twilio: {exc!r}", code="network") from None
        return SentListing(
            [SentMessage(m.sid, m.to or "", m.body or "", m.status or "", m.date_created) for m in found],
            _provider_time.get(),
        )

    async def fetch_price(self, sid: str) -> tuple[str | None, str | None]:
        """(price, price_unit) of one message as Twilio's message resource says it (price None until Twilio has
        priced it, often minutes after the final status; negative strings such as "-0.00500")."""
        client = self._get_client()
        try:
            found = await client.messages(sid).fetch_async()
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _channel_error(exc, None) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ChannelError(f"cannot fetch the message at Twilio: {exc!r}", code="network") from None
        return (str(found.price) if found.price is not None else None), found.price_unit

    async def close(self) -> None:
        if self._http is not None and self._loop is asyncio.get_running_loop():
            await self._http.session.close()
        self._client = self._http = self._loop = None


def _channel_error(exc: TwilioRestException | TwilioServiceException, retry_after: float | None) -> ChannelError:
    status = int(getattr(exc, "status", 0) or 0)
    code = str(exc.code) if getattr(exc, "code", None) is not None else None
    if status == 429 and code is None:
        code = "20429"
    if status >= 500 and code is None:
        code = str(status)  # a 5xx may come after Twilio took the message: the sender looks it up before a resend
    permanent = errors.is_permanent(code, status)
    detail = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    return ChannelError(f"Twilio {status}: {detail}".strip(), permanent=permanent, code=code, retry_after=retry_after)


def fetch_account(settings: Settings) -> Any:
    """The Twilio account resource (short timeout), for `coachbox check`; a ChannelError says what failed."""
    return fetch_account_and_time(settings)[0]


def fetch_account_and_time(settings: Settings) -> tuple[Any, datetime | None]:
    """fetch_account, with Twilio's clock when it answered (its Date header; None without one)."""
    http = _SyncHttp(settings.twilio.api_base_url, CHECK_TIMEOUT_SECONDS)
    client = Client(settings.twilio.account_sid, settings.twilio.auth_token, http_client=http, environment={})
    try:
        return client.api.v2010.accounts(settings.twilio.account_sid).fetch(), http.provider_time
    except TwilioRestException as exc:
        raise ChannelError(
            str(exc.msg), permanent=exc.status in (401, 403, 404), code=str(exc.code), status=exc.status
        ) from None
    except Exception as exc:  # noqa: BLE001 - any network failure is "cannot reach", never a traceback
        raise ChannelError(type(exc).__name__, code="network") from None
