"""A local Stripe double on 127.0.0.1 for the real `stripe` client, and webhook events signed exactly as Stripe does.

Serves POST /v1/checkout/sessions and POST /v1/subscriptions/<id> (form-encoded, Bearer key). Event payloads use
the current API shapes: subscription periods on items, invoices naming their subscription under
parent.subscription_details (https://docs.stripe.com/changelog/basil).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from tests.doubles.http import LocalServer, QuickHandler, base_url, serve, shutdown_server

SECRET_KEY = "sk_test_double_0123456789"
WEBHOOK_SECRET = "whsec_double_0123456789abcdef"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<ts>,v1=<hex HMAC-SHA256(secret, f"{t}.{payload}")>."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _nested(pairs: list[tuple[str, str]]) -> dict:
    """'line_items[0][price]=p' form keys → nested dicts (lists as dicts keyed by index), like Stripe reads them."""
    root: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


@dataclass
class Checkout:
    session: dict
    params: dict


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: list[Checkout] = field(default_factory=list)
    by_idempotency: dict[str, dict] = field(default_factory=dict)
    updates: list[tuple[str, dict]] = field(default_factory=list)


class StripeDouble:
    def __init__(self) -> None:
        self.state = _State()
        self._server: LocalServer | None = None
        self._counter = 0

    def start(self) -> StripeDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = serve(Handler, "stripe-double")
        return self

    def stop(self) -> None:
        shutdown_server(self._server)

    @property
    def base_url(self) -> str:
        return base_url(self._server)

    @property
    def sessions(self) -> list[Checkout]:
        with self.state.lock:
            return list(self.state.sessions)

    # -- events ------------------------------------------------------------------------------------
    def event(self, type_: str, obj: dict, *, created: int, event_id: str | None = None) -> bytes:
        self._counter += 1
        return json.dumps(
            {
                "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
                "object": "event",
                "api_version": "2026-10-28.endive",
                "created": created,
                "type": type_,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": obj},
            }
        ).encode()

    @staticmethod
    def subscription(
        sub_id: str,
        meta: dict,
        *,
        status: str = "active",
        period_start: int,
        period_end: int,
        cancel_at_period_end: bool = False,
    ) -> dict:
        return {
            "id": sub_id,
            "object": "subscription",
            "status": status,
            "customer": "cus_double",
            "cancel_at_period_end": cancel_at_period_end,
            "metadata": meta,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": "si_1",
                        "object": "subscription_item",
                        "current_period_start": period_start,
                        "current_period_end": period_end,
                        "price": {"id": "price_usd_monthly", "currency": "usd"},
                    }
                ],
            },
        }

    @staticmethod
    def invoice(
        invoice_id: str,
        sub_id: str,
        meta: dict,
        *,
        amount: int,
        currency: str = "usd",
        period_start: int,
        period_end: int,
        paid: bool = True,
        attempt_count: int = 1,
    ) -> dict:
        return {
            "id": invoice_id,
            "object": "invoice",
            "number": f"DBL-{invoice_id[-6:].upper()}",
            "customer": "cus_double",
            "currency": currency,
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "status": "paid" if paid else "open",
            "attempt_count": attempt_count,
            "billing_reason": "subscription_cycle",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub_id, "metadata": meta},
            },
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": "il_1",
                        "object": "line_item",
                        "amount": amount,
                        "currency": currency,
                        "metadata": meta,
                        "period": {"start": period_start, "end": period_end},
                    }
                ],
            },
        }

    @staticmethod
    def completed_session(session: dict, sub_id: str) -> dict:
        return {**session, "status": "complete", "payment_status": "paid", "subscription": sub_id}


class _Handler(QuickHandler):
    owner: StripeDouble

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, type_: str, message: str, param: str | None = None) -> None:
        self._send(status, {"error": {"type": type_, "message": message, "param": param}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return self._error(401, "invalid_request_error", "Invalid API Key provided")
        params = _nested(parse_qsl(raw, keep_blank_values=True))
        if self.path == "/v1/checkout/sessions":
            return self._create_session(params)
        if self.path.startswith("/v1/subscriptions/"):
            sub_id = self.path.rsplit("/", 1)[-1]
            with self.owner.state.lock:
                self.owner.state.updates.append((sub_id, params))
            return self._send(
                200,
                {
                    "id": sub_id,
                    "object": "subscription",
                    "status": "active",
                    "cancel_at_period_end": params.get("cancel_at_period_end") == "true",
                },
            )
        self._error(404, "invalid_request_error", f"Unrecognized request URL (POST: {self.path})")

    def _create_session(self, params: dict) -> None:
        key = self.headers.get("Idempotency-Key")
        state = self.owner.state
        with state.lock:
            if key and key in state.by_idempotency:
                return self._send(200, state.by_idempotency[key], {"Idempotent-Replayed": "true"})
        if params.get("mode") != "subscription":
            return self._error(400, "invalid_request_error", "mode must be subscription here", "mode")
        price = params.get("line_items", {}).get("0", {}).get("price", "")
        if not price.startswith("price_"):
            return self._error(400, "invalid_request_error", f"No such price: '{price}'", "line_items[0][price]")
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                return self._error(400, "invalid_request_error", f"Missing required param: {name}.", name)
        session_id = f"cs_test_{uuid.uuid4().hex}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{self.owner.base_url}/c/pay/{session_id}",
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "subscription": None,
            "currency": "usd",
            "amount_total": None,
            "customer": None,
        }
        with state.lock:
            state.sessions.append(Checkout(session, params))
            if key:
                state.by_idempotency[key] = session
        self._send(200, session)
