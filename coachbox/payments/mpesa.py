"""Daraja (Safaricom M-PESA) over httpx: OAuth token cache, STK push, STK query, and the callback's wire format.

Daraja docs: https://developer.safaricom.co.ke/APIs/MpesaExpressSimulate (STK push, callback) and
https://developer.safaricom.co.ke/APIs/MpesaExpressQuery (query); OAuth: /oauth/v1/generate (Basic auth).
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from coachbox.core.hostile import parse_json
from coachbox.payments.errors import ProviderError

NAIROBI = ZoneInfo("Africa/Nairobi")
TOKEN_MARGIN_SECONDS = 60  # refresh a little early: a token expiring mid-request costs a 401 and a retry
USER_CANCELLED = 1032  # "Request cancelled by user"
STILL_PROCESSING = "500.001.1001"  # STK query before the learner answered: ask again later


class BadCallback(ValueError):
    """A body that is not an STK callback (recorded for review, answered so Daraja stops retrying)."""


def timestamp(now: datetime) -> str:
    """Daraja's Timestamp: Nairobi local time as YYYYmmddHHMMSS (the Password is built from the same value)."""
    return now.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, stamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


def msisdn(e164: str) -> str:
    """'+254712345678' → '254712345678' (Daraja's PartyA/PhoneNumber format)."""
    return e164.lstrip("+")


@dataclass(frozen=True)
class PushAccepted:
    merchant_request_id: str
    checkout_request_id: str
    customer_message: str


@dataclass(frozen=True)
class StkResult:
    """The outcome of one STK push, from the callback or from a query (queries carry no metadata)."""

    checkout_request_id: str
    merchant_request_id: str
    result_code: int
    result_desc: str
    amount_minor: int | None = None  # KES cents: Daraja's Amount is whole shillings
    receipt: str | None = None
    phone: str | None = None  # E.164, or a masked number as Daraja sent it
    transaction_date: str | None = None

    @property
    def ok(self) -> bool:
        return self.result_code == 0


class TokenCache:
    """The OAuth token, kept until shortly before it expires (in memory, shared by one process's calls)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def get(self, now: float) -> str | None:
        with self._lock:
            return self._token if self._token and now < self._expires else None

    def put(self, token: str, expires_in: int, now: float) -> None:
        with self._lock:
            self._token, self._expires = token, now + max(0, expires_in - TOKEN_MARGIN_SECONDS)

    def drop(self) -> None:
        with self._lock:
            self._token, self._expires = None, 0.0


class DarajaClient:
    """One per process (Services.payments); `http` is an httpx.AsyncClient the caller may share."""

    def __init__(
        self,
        settings: Any,
        *,
        http: httpx.AsyncClient | None = None,
        tokens: TokenCache | None = None,
        monotonic=time.monotonic,
    ) -> None:
        self.config = settings.mpesa
        self.callback_url = f"{settings.server.public_url.rstrip('/')}/webhooks/mpesa/{self.config.callback_secret}"
        self._http = http
        self._owns_http = http is None
        self.tokens = tokens or TokenCache()
        self._monotonic = monotonic
        self.token_requests = 0  # how many times we asked for a token (tests check the cache)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.config.base_url, timeout=httpx.Timeout(15.0, connect=5.0))
        return self._http

    async def aclose(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    async def token(self) -> str:
        cached = self.tokens.get(self._monotonic())
        if cached:
            return cached
        self.token_requests += 1
        try:
            response = await self._client().get(
                f"{self.config.base_url.rstrip('/')}/oauth/v1/generate",
                params={"grant_type": "client_credentials"},
                auth=(self.config.consumer_key, self.config.consumer_secret),
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"Daraja OAuth unreachable: {exc}", provider="mpesa") from None
        if response.status_code in (400, 401, 403):
            raise ProviderError(
                "Daraja refused the consumer key/secret (check [mpesa] consumer_key and consumer_secret)",
                provider="mpesa",
                permanent=True,
                code=str(response.status_code),
                status=response.status_code,
            )
        if response.status_code != 200:
            raise ProviderError(
                f"Daraja OAuth answered HTTP {response.status_code}", provider="mpesa", status=response.status_code
            )
        data = response.json()
        # Daraja sends expires_in as a string ("3599"); an unparsable one means "do not cache".
        try:
            expires_in = int(str(data.get("expires_in", "0")))
        except ValueError:
            expires_in = 0
        self.tokens.put(data["access_token"], expires_in, self._monotonic())
        return data["access_token"]

    async def _post(self, path: str, body: dict) -> dict:
        for attempt in (1, 2):
            token = await self.token()
            try:
                response = await self._client().post(
                    f"{self.config.base_url.rstrip('/')}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                raise ProviderError(f"Daraja unreachable: {exc}", provider="mpesa") from None
            if response.status_code == 401 and attempt == 1:
                self.tokens.drop()  # revoked or expired early: one fresh token, one retry
                continue
            try:
                data = response.json()
            except ValueError:
                raise ProviderError(
                    f"Daraja answered HTTP {response.status_code} without JSON",
                    provider="mpesa",
                    status=response.status_code,
                ) from None
            if response.status_code >= 400 or "errorCode" in data:
                code = str(data.get("errorCode", response.status_code))
                message = str(data.get("errorMessage", "error"))
                raise ProviderError(
                    f"Daraja error {code}: {message}",
                    provider="mpesa",
                    code=code,
                    permanent=400 <= response.status_code < 500,
                    status=response.status_code,
                )
            return data
        raise ProviderError(
            "Daraja kept refusing the access token", provider="mpesa", permanent=True, code="401", status=401
        )

    def _credentials(self, now: datetime) -> dict:
        stamp = timestamp(now)
        return {
            "BusinessShortCode": self.config.shortcode,
            "Password": password(self.config.shortcode, self.config.passkey, stamp),
            "Timestamp": stamp,
        }

    async def stk_push(
        self, *, phone: str, amount_minor: int, reference: str, description: str, now: datetime
    ) -> PushAccepted:
        """Ask the learner's phone for their M-PESA PIN. amount_minor is KES cents and must be whole shillings."""
        if (
            isinstance(amount_minor, bool)
            or not isinstance(amount_minor, int)
            or amount_minor <= 0
            or amount_minor % 100
        ):
            raise ProviderError(
                f"M-PESA charges whole shillings, got {amount_minor!r} cents", provider="mpesa", permanent=True
            )
        till = getattr(self.config, "till_number", "")
        body = {
            **self._credentials(now),
            # Paybill: PartyB is the short code; Buy Goods: PartyB is the till number.
            "TransactionType": "CustomerBuyGoodsOnline" if till else "CustomerPayBillOnline",
            "Amount": amount_minor // 100,
            "PartyA": msisdn(phone),
            "PartyB": till or self.config.shortcode,
            "PhoneNumber": msisdn(phone),
            "CallBackURL": self.callback_url,
            "AccountReference": reference[:12],  # Daraja's limit: 12 characters
            "TransactionDesc": description[:13],  # Daraja's limit: 13 characters
        }
        data = await self._post("/mpesa/stkpush/v1/processrequest", body)
        if str(data.get("ResponseCode")) != "0":
            raise ProviderError(
                f"STK push refused: {data.get('ResponseDescription')}",
                provider="mpesa",
                permanent=True,
                code=str(data.get("ResponseCode")),
            )
        return PushAccepted(
            str(data["MerchantRequestID"]), str(data["CheckoutRequestID"]), str(data.get("CustomerMessage", ""))
        )

    async def stk_query(self, checkout_request_id: str, *, now: datetime) -> StkResult | None:
        """The final result of a push, or None while the learner has not answered yet."""
        try:
            data = await self._post(
                "/mpesa/stkpushquery/v1/query", {**self._credentials(now), "CheckoutRequestID": checkout_request_id}
            )
        except ProviderError as exc:
            if exc.code == STILL_PROCESSING:
                return None
            raise
        try:
            code = int(str(data["ResultCode"]))
        except (KeyError, ValueError):
            return None
        return StkResult(
            checkout_request_id, str(data.get("MerchantRequestID", "")), code, str(data.get("ResultDesc", ""))
        )


# -- the callback ----------------------------------------------------------------------------------


def parse_callback(body: bytes) -> StkResult:
    """Body.stkCallback → StkResult. Numbers are parsed as Decimal: no float ever touches an amount."""
    try:
        data = parse_json(body, parse_float=Decimal)  # BadBody (a ValueError): not UTF-8, too deep, lone surrogate
        callback = data["Body"]["stkCallback"]
        checkout = str(callback["CheckoutRequestID"])
        code = int(str(callback["ResultCode"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadCallback(f"not an STK callback: {exc.__class__.__name__}") from None
    if not checkout or len(checkout) > 100:
        raise BadCallback("bad CheckoutRequestID")
    items: dict[str, Any] = {}
    metadata = callback.get("CallbackMetadata") or {}
    for item in metadata.get("Item", []) if isinstance(metadata, dict) else []:
        if isinstance(item, dict) and "Name" in item:
            items[str(item["Name"])] = item.get("Value")
    amount = _cents(items.get("Amount")) if "Amount" in items else None
    phone = items.get("PhoneNumber")
    return StkResult(
        checkout,
        str(callback.get("MerchantRequestID", "")),
        code,
        str(callback.get("ResultDesc", "")),
        amount_minor=amount,
        receipt=str(items["MpesaReceiptNumber"]) if items.get("MpesaReceiptNumber") else None,
        phone=_phone(phone),
        transaction_date=str(items.get("TransactionDate") or "") or None,
    )


def _cents(value: Any) -> int | None:
    """1, Decimal('1.00'), '1' → 100; anything that is not whole cents → None (treated as a mismatch)."""
    if isinstance(value, bool):
        return None
    try:
        cents = Decimal(str(value)) * 100
    except (InvalidOperation, ValueError):
        return None
    return int(cents) if cents == cents.to_integral_value() else None


def _phone(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text if text.startswith("+") or "*" in text else "+" + text


def same_phone(expected: str | None, got: str | None) -> bool:
    """Exact E.164 match; a masked number ('2547****678') matches on its visible digits only."""
    if not expected or not got:
        return False
    if "*" not in got:
        return expected == got
    exp, shown = expected.lstrip("+"), got.lstrip("+")
    head, tail = shown.split("*", 1)[0], shown.rsplit("*", 1)[-1]
    return len(exp) == len(shown) and exp.startswith(head) and exp.endswith(tail)
