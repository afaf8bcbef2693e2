"""A local Twilio double on 127.0.0.1: the Messages API (create, list), accounts, media and Content, scriptable."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "double-auth-token-0123456789abcdef"


@dataclass
class Accepted:
    """One message the double accepted (what Twilio would have sent to the learner)."""

    sid: str
    params: dict[str, list[str]]
    at: float  # time.time() when accepted
    created: datetime

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default

    @property
    def to(self) -> str:
        return self.get("To", "")

    @property
    def tag(self) -> str | None:
        """Our outbox id, from the StatusCallback URL's ?m= query."""
        callback = self.get("StatusCallback")
        if not callback:
            return None
        return parse_qs(urlsplit(callback).query).get("m", [None])[0]


@dataclass
class Behaviour:
    """What the next Messages.json create request gets instead of a 201."""

    status: int = 500
    code: int | None = None
    message: str = "scripted failure"
    retry_after: float | None = None
    hang: float = 0.0  # seconds to sleep before answering
    accept: bool = False  # record the message before failing/hanging (Twilio took it, the answer got lost)
    accept_late: bool = False  # record it only after the hang (Twilio still working on it when the client gave up)


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: list[Accepted] = field(default_factory=list)
    script: deque = field(default_factory=deque)
    fail_to: dict[str, Behaviour] = field(default_factory=dict)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)  # each POST's Content-Type, as sent
    chaos: tuple[float, random.Random] | None = None  # (share of creates that fail at random, its generator)
    prices: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # sid → (price, price_unit)


class TwilioDouble:
    def __init__(
        self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, now: Callable[[], datetime] | None = None
    ) -> None:
        # `now` is Twilio's clock: date_created of what it takes, and the Date header of every answer. Give it
        # the box's clock plus an offset to play a box whose clock is off (tests/channels/test_clock_skew.py).
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.now = now or (lambda: datetime.now(UTC))
        self.state = _State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> TwilioDouble:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting -------------------------------------------------------------------------------
    def fail_next(self, count: int = 1, **behaviour) -> None:
        with self.state.lock:
            for _ in range(count):
                self.state.script.append(Behaviour(**behaviour))

    def fail_for(self, to: str, **behaviour) -> None:
        """Every send to this address fails this way (e.g. code=21211, status=400)."""
        with self.state.lock:
            self.state.fail_to[to] = Behaviour(**behaviour)

    def chaos(self, share: float, seed: int = 0) -> None:
        """Fail this share of creates at random, as Twilio does on a bad day: 429 (not taken), 500 before
        taking the message, 500 or a 1.5 s hang AFTER taking it (the answer is lost, the message is not)."""
        with self.state.lock:
            self.state.chaos = (share, random.Random(seed)) if share > 0 else None

    def _chaos_behaviour(self) -> Behaviour | None:
        share, rng = self.state.chaos
        if rng.random() >= share:
            return None
        return rng.choice(
            [
                Behaviour(status=429, code=20429, retry_after=1),
                Behaviour(status=500),
                Behaviour(status=500, accept=True),
                Behaviour(status=503, accept_late=True, hang=0.2),
                Behaviour(status=500, accept=True, hang=1.5),
            ]
        )

    def duplicates(self) -> dict[str, int]:
        """Outbox ids (?m= tags) the double accepted more than once, with their counts."""
        counts: dict[str, int] = {}
        for item in self.accepted:
            if item.tag is not None:
                counts[item.tag] = counts.get(item.tag, 0) + 1
        return {tag: n for tag, n in counts.items() if n > 1}

    def add_media(
        self, message_sid: str, media_sid: str, content: bytes, content_type: str, *, trickle: float = 0.0
    ) -> str:
        """trickle: seconds between the headers and each of 10 pieces of the body (a slow CDN)."""
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        with self.state.lock:
            self.state.media[path] = (content, content_type, trickle)
        return self.url + path

    def accept(self, to: str, body: str, *, tag: str | None = None, created: datetime | None = None) -> Accepted:
        """Record a message as if it had been sent (to set up reconciliation cases)."""
        params = {"To": [to], "Body": [body], "From": ["whatsapp:+14155238886"]}
        if tag:
            params["StatusCallback"] = [f"http://box/webhooks/twilio/status?m={tag}"]
        return self._record(params, created)

    def set_price(self, sid: str, price: str | None, unit: str = "USD") -> None:
        """What GET Messages/<sid>.json says the message cost, as Twilio writes it ("-0.00900"; None: not yet)."""
        with self.state.lock:
            self.state.prices[sid] = (price, unit)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def accepted(self) -> list[Accepted]:
        with self.state.lock:
            return list(self.state.accepted)

    def _record(self, params: dict[str, list[str]], created: datetime | None = None) -> Accepted:
        item = Accepted(sid="SM" + uuid.uuid4().hex, params=params, at=time.time(), created=created or self.now())
        with self.state.lock:
            self.state.accepted.append(item)
        return item

    def message_json(self, item: Accepted, status: str = "queued") -> dict:
        stamp = format_datetime(item.created.astimezone(UTC), usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{item.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": item.get("Body", ""),
            "date_created": stamp,
            "date_sent": stamp,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": item.get("From"),
            "messaging_service_sid": None,
            "num_media": str(len(item.params.get("MediaUrl", []))),
            "num_segments": "1",
            "price": self.state.prices.get(item.sid, (None, "USD"))[0],
            "price_unit": self.state.prices.get(item.sid, (None, "USD"))[1],
            "sid": item.sid,
            "status": status,
            "to": item.to,
            "subresource_uris": {"media": uri + "/Media.json"},
            "uri": uri + ".json",
        }


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's 5 drops SYNs when a sender opens its pool of connections at once

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)  # a client that gave up is not an error here


class _Handler(BaseHTTPRequestHandler):
    double: TwilioDouble
    protocol_version = "HTTP/1.1"
    # Without this, keep-alive answers wait on Nagle + delayed ACK: ~40 ms per send (see STACK-NOTES).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet test output
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, from the double's own clock (a test sets it apart from the box's to skew them)."""
        return format_datetime(self.double.now().astimezone(UTC), usegmt=True)

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a scripted hang longer than its timeout)

    def _error(self, status: int, code: int | None, message: str, headers: dict | None = None) -> None:
        self._json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            headers,
        )

    def _authorised(self) -> bool:
        double = self.double
        expected = "Basic " + base64.b64encode(f"{double.account_sid}:{double.auth_token}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._error(401, 20003, "Authenticate")
            return False
        return True

    def _read_form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        return parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)

    def do_GET(self) -> None:  # noqa: N802
        double = self.double
        parts = urlsplit(self.path)
        with double.state.lock:
            double.state.requests.append(("GET", parts.path))
        if not self._authorised():
            return
        accounts = f"/2010-04-01/Accounts/{double.account_sid}"
        if parts.path == accounts + ".json":
            self._json(
                200,
                {
                    "sid": double.account_sid,
                    "friendly_name": "Coachbox double",
                    "status": "active",
                    "type": "Full",
                    "date_created": "Mon, 02 Mar 2026 05:00:00 +0000",
                },
            )
        elif parts.path == accounts + "/Messages.json":
            self._list(parse_qs(parts.query))
        elif (
            parts.path.startswith(accounts + "/Messages/")
            and parts.path.endswith(".json")
            and parts.path.count("/") == 5
        ):
            sid = parts.path.rsplit("/", 1)[1].removesuffix(".json")
            found = [item for item in double.accepted if item.sid == sid]
            if not found:
                self._error(404, 20404, f"The requested resource {parts.path} was not found")
                return
            self._json(200, double.message_json(found[0], "delivered"))
        elif parts.path in double.state.media:
            content, content_type, trickle = double.state.media[parts.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if not trickle:
                self.wfile.write(content)
                return
            step = max(1, len(content) // 10)
            try:
                for start in range(0, len(content), step):
                    time.sleep(trickle)
                    self.wfile.write(content[start : start + step])
                    self.wfile.flush()
            except OSError:  # the client gave up
                self.close_connection = True
        elif parts.path == "/v1/Content":
            self._json(
                200,
                {
                    "contents": [],
                    "meta": {
                        "page": 0,
                        "page_size": 50,
                        "first_page_url": None,
                        "previous_page_url": None,
                        "url": None,
                        "next_page_url": None,
                        "key": "contents",
                    },
                },
            )
        else:
            self._error(404, 20404, f"The requested resource {parts.path} was not found")

    def _list(self, query: dict[str, list[str]]) -> None:
        double = self.double
        to = query.get("To", [None])[0]
        after = query.get("DateSent>", [None])[0]  # the client sends "DateSent>=…" (key "DateSent>")
        since = _parse_date(after) if after else None
        items = [m for m in double.accepted if (to is None or m.to == to) and (since is None or m.created >= since)]
        items.sort(key=lambda m: m.created, reverse=True)  # Twilio lists newest first
        page_size = int(query.get("PageSize", ["50"])[0])
        messages = [double.message_json(m, status="sent") for m in items[:page_size]]
        uri = f"/2010-04-01/Accounts/{double.account_sid}/Messages.json"
        self._json(
            200,
            {
                "messages": messages,
                "end": len(messages) - 1,
                "first_page_uri": uri,
                "next_page_uri": None,
                "page": 0,
                "page_size": page_size,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            },
        )

    def do_POST(self) -> None:  # noqa: N802
        double = self.double
        parts = urlsplit(self.path)
        with double.state.lock:
            double.state.requests.append(("POST", parts.path))
            double.state.content_types.append(self.headers.get("Content-Type", ""))
        form = self._read_form()
        if not self._authorised():
            return
        if parts.path != f"/2010-04-01/Accounts/{double.account_sid}/Messages.json":
            self._error(404, 20404, f"The requested resource {parts.path} was not found")
            return
        if not form.get("To") or not (form.get("Body") or form.get("ContentSid") or form.get("MediaUrl")):
            self._error(400, 21602, "Message body is required.")
            return
        with double.state.lock:
            behaviour = (
                double.state.script.popleft() if double.state.script else double.state.fail_to.get(form["To"][0])
            )
            if behaviour is None and double.state.chaos is not None:
                behaviour = double._chaos_behaviour()
        if behaviour is not None:
            if behaviour.accept:
                double._record(form)
            if behaviour.hang:
                time.sleep(behaviour.hang)
            if behaviour.accept_late:
                double._record(form)
            headers = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after is not None else None
            self._error(behaviour.status, behaviour.code, behaviour.message, headers)
            return
        item = double._record(form)
        self._json(201, double.message_json(item))


def _parse_date(value: str) -> datetime:
    value = value.strip().rstrip("Z")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
