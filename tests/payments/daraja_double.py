"""A local Daraja (M-PESA) double on 127.0.0.1 speaking the real wire formats: OAuth, STK push, STK query, callbacks.

Each push is answered like Daraja does, then produces the Body.stkCallback JSON Safaricom would POST to the
CallBackURL. `deliver` posts those bodies over real HTTP (or through any async poster, e.g. an ASGI test client).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tests.doubles.http import LocalServer, QuickHandler, base_url, serve, shutdown_server

CONSUMER_KEY = "double-consumer-key"
CONSUMER_SECRET = "double-consumer-secret"
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"  # Daraja's public sandbox passkey
NAIROBI = ZoneInfo("Africa/Nairobi")
_STAMP = re.compile(r"^\d{14}$")


@dataclass
class Outcome:
    """What the learner's phone does with the next STK prompt."""

    result_code: int = 0  # 0 paid, 1032 cancelled by user, 1037 unreachable, 2001 wrong PIN
    result_desc: str = "The service request is processed successfully."
    paid_amount: int | None = None  # whole KES actually paid (None = what was asked)
    paid_phone: str | None = None  # PhoneNumber in the callback (None = PartyA)
    send_callback: bool = True  # False: the callback is lost; only an STK query will tell
    answered: bool = True  # False: the learner has not answered yet (queries say "being processed")


@dataclass
class Push:
    body: dict
    merchant_request_id: str
    checkout_request_id: str
    outcome: Outcome
    receipt: str

    @property
    def callback_url(self) -> str:
        return self.body["CallBackURL"]

    def callback(self) -> dict:
        """The JSON Safaricom POSTs for this push (https://developer.safaricom.co.ke/APIs/MpesaExpressSimulate)."""
        result = {
            "MerchantRequestID": self.merchant_request_id,
            "CheckoutRequestID": self.checkout_request_id,
            "ResultCode": self.outcome.result_code,
            "ResultDesc": self.outcome.result_desc,
        }
        if self.outcome.result_code == 0:
            amount = self.outcome.paid_amount if self.outcome.paid_amount is not None else self.body["Amount"]
            phone = self.outcome.paid_phone or self.body["PartyA"]
            result["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": amount},
                    {"Name": "MpesaReceiptNumber", "Value": self.receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": int(datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S"))},
                    {"Name": "PhoneNumber", "Value": int(phone)},
                ]
            }
        return {"Body": {"stkCallback": result}}

    def callback_bytes(self) -> bytes:
        return json.dumps(self.callback()).encode()


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    pushes: list[Push] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by PartyA (2547…)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    queries: list[str] = field(default_factory=list)
    fail_next_push: tuple[int, dict] | None = None


class DarajaDouble:
    def __init__(self, *, expires_in: int = 3599) -> None:
        self.expires_in = expires_in
        self.state = _State()
        self._server: LocalServer | None = None

    def start(self) -> DarajaDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = serve(Handler, "daraja-double")
        return self

    def stop(self) -> None:
        shutdown_server(self._server)

    @property
    def base_url(self) -> str:
        return base_url(self._server)

    # -- scripting -------------------------------------------------------------------------------
    def when_phone(self, phone: str, outcome: Outcome) -> None:
        with self.state.lock:
            self.state.outcomes[phone.lstrip("+")] = outcome

    def fail_next_push(self, status: int, body: dict) -> None:
        with self.state.lock:
            self.state.fail_next_push = (status, body)

    def answer(self, checkout_request_id: str, outcome: Outcome) -> None:
        """The learner answers later (for queries): replace the push's outcome."""
        with self.state.lock:
            for push in self.state.pushes:
                if push.checkout_request_id == checkout_request_id:
                    push.outcome = outcome

    @property
    def pushes(self) -> list[Push]:
        with self.state.lock:
            return list(self.state.pushes)

    def pending_callbacks(self) -> list[Push]:
        return [p for p in self.pushes if p.outcome.send_callback and p.outcome.answered]

    async def deliver(self, post) -> list:
        """POST every pending callback through `post(path, body_bytes)` (an ASGI client or real HTTP)."""
        responses = []
        for push in self.pending_callbacks():
            responses.append(await post(urlsplit(push.callback_url).path, push.callback_bytes()))
        return responses


class _Handler(QuickHandler):
    owner: DarajaDouble

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"requestId": uuid.uuid4().hex[:12], "errorCode": code, "errorMessage": message})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/oauth/v1/generate" or parse_qs(url.query).get("grant_type") != ["client_credentials"]:
            return self._error(404, "404.001.03", "Invalid Access Token")
        expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            return self._error(400, "400.008.01", "Invalid Authentication passed")
        token = uuid.uuid4().hex
        with self.owner.state.lock:
            self.owner.state.tokens.add(token)
            self.owner.state.token_requests += 1
        # Daraja really sends expires_in as a string.
        self._send(200, {"access_token": token, "expires_in": str(self.owner.expires_in)})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        with self.owner.state.lock:
            known = auth.startswith("Bearer ") and auth[7:] in self.owner.state.tokens
        if not known:
            return self._error(401, "404.001.04", "Invalid Authentication passed")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "400.002.05", "Invalid Request Payload")
        problem = _check_credentials(body)
        if problem:
            return self._error(400, "400.002.02", f"Bad Request - Invalid {problem}")
        if self.path == "/mpesa/stkpush/v1/processrequest":
            return self._push(body)
        if self.path == "/mpesa/stkpushquery/v1/query":
            return self._query(body)
        self._error(404, "404.001.01", "Resource not found")

    def _push(self, body: dict) -> None:
        state = self.owner.state
        with state.lock:
            failure, state.fail_next_push = state.fail_next_push, None
        if failure:
            return self._send(*failure)
        for name in (
            "TransactionType",
            "Amount",
            "PartyA",
            "PartyB",
            "PhoneNumber",
            "CallBackURL",
            "AccountReference",
            "TransactionDesc",
        ):
            if name not in body:
                return self._error(400, "400.002.02", f"Bad Request - Invalid {name}")
        if not isinstance(body["Amount"], int) or body["Amount"] < 1:
            return self._error(400, "400.002.02", "Bad Request - Invalid Amount")
        if not re.fullmatch(r"2547\d{8}|2541\d{8}", str(body["PhoneNumber"])):
            return self._error(400, "400.002.02", "Bad Request - Invalid PhoneNumber")
        if len(body["AccountReference"]) > 12 or len(body["TransactionDesc"]) > 13:
            return self._error(400, "400.002.02", "Bad Request - Invalid AccountReference")
        with state.lock:
            outcome = state.outcomes.get(str(body["PartyA"]), Outcome())
            push = Push(
                body,
                f"{uuid.uuid4().int % 10**5}-{uuid.uuid4().int % 10**8}-1",
                f"ws_CO_{datetime.now(NAIROBI):%d%m%Y%H%M%S}{uuid.uuid4().int % 10**12:012d}",
                Outcome(**outcome.__dict__),
                f"T{uuid.uuid4().hex[:9].upper()}",
            )
            state.pushes.append(push)
        self._send(
            200,
            {
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing",
            },
        )

    def _query(self, body: dict) -> None:
        state = self.owner.state
        with state.lock:
            state.queries.append(body.get("CheckoutRequestID", ""))
            push = next((p for p in state.pushes if p.checkout_request_id == body.get("CheckoutRequestID")), None)
        if push is None:
            return self._error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
        if not push.outcome.answered:
            return self._error(500, "500.001.1001", "The transaction is being processed")
        self._send(
            200,
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": str(push.outcome.result_code),
                "ResultDesc": push.outcome.result_desc,
            },
        )


def _check_credentials(body: dict) -> str | None:
    """Password must be base64(shortcode + passkey + Timestamp) with a 14-digit Nairobi timestamp."""
    stamp = str(body.get("Timestamp", ""))
    if not _STAMP.match(stamp):
        return "Timestamp"
    if body.get("BusinessShortCode") != SHORTCODE:
        return "BusinessShortCode"
    expected = base64.b64encode(f"{SHORTCODE}{PASSKEY}{stamp}".encode()).decode()
    return None if body.get("Password") == expected else "Password"
