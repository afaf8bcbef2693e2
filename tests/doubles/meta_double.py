"""A local Graph API double on 127.0.0.1 for Meta's WhatsApp Cloud API: messages, phone number, media, templates.

It answers in the real wire format: a send returns {"messaging_product", "contacts", "messages": [{"id": "wamid…"}]};
a failure returns Meta's error body {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}} with the
HTTP status Meta uses for it. Every request is recorded."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.doubles.http import LocalServer, QuickHandler, base_url, serve, shutdown_server

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
ACCESS_TOKEN = "EAAdouble-access-token-0123456789"
APP_SECRET = "double-app-secret-0123456789abcdef"
VERIFY_TOKEN = "double-verify-token"
API_VERSION = "v23.0"
BUSINESS_NUMBER = "15550783881"

# Error bodies as Meta sends them (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
ERRORS: dict[int, tuple[int, str, str]] = {  # code: (HTTP status, type, message)
    100: (400, "OAuthException", "(#100) Invalid parameter"),
    190: (401, "OAuthException", "Error validating access token: Session has expired"),
    368: (400, "OAuthException", "Temporarily blocked for policies violations"),
    130429: (400, "OAuthException", "(#130429) Rate limit hit"),
    131026: (400, "OAuthException", "(#131026) Message undeliverable"),
    131031: (400, "OAuthException", "(#131031) Account has been locked"),
    131047: (400, "OAuthException", "(#131047) Re-engagement message"),
    131051: (400, "OAuthException", "(#131051) Unsupported message type"),
    131056: (400, "OAuthException", "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
    131000: (500, "OAuthException", "(#131000) Something went wrong"),
}


@dataclass
class Sent:
    """One message the double accepted (what Meta would deliver to the learner)."""

    wamid: str
    payload: dict
    at: float

    @property
    def to(self) -> str:
        return self.payload.get("to") or self.payload.get("recipient") or ""

    @property
    def type(self) -> str:
        return self.payload.get("type", "")

    @property
    def text(self) -> str:
        """What the learner reads: the text body, an interactive body, a caption or the template's name."""
        kind = self.type
        if kind == "text":
            return self.payload["text"]["body"]
        if kind == "interactive":
            return self.payload["interactive"]["body"]["text"]
        if kind == "template":
            return "template:" + self.payload["template"]["name"]
        return self.payload.get(kind, {}).get("caption", "")

    @property
    def tag(self) -> str | None:
        return self.payload.get("biz_opaque_callback_data")


@dataclass
class Behaviour:
    """What the next send gets instead of success."""

    code: int | None = 131000
    status: int | None = None  # default: Meta's for that code
    hang: float = 0.0
    accept: bool = False  # record the message before failing/hanging (Meta took it; the answer got lost)


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[Sent] = field(default_factory=list)
    script: deque = field(default_factory=deque)
    fail_to: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, path, headers)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    templates: list[dict] = field(default_factory=list)
    chaos: tuple[float, random.Random] | None = None
    delay: float = 0.0  # seconds every send waits (a slow API, for the crash test)


class MetaDouble:
    def __init__(
        self,
        *,
        phone_number_id: str = PHONE_NUMBER_ID,
        waba_id: str = WABA_ID,
        access_token: str = ACCESS_TOKEN,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.access_token = access_token
        self.state = _State()
        self.server: LocalServer | None = None

    def start(self) -> MetaDouble:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self.server = serve(Handler, "meta-double")
        return self

    def stop(self) -> None:
        shutdown_server(self.server)
        self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return base_url(self.server)

    # -- scripting -----------------------------------------------------------------------------------------------
    def fail_next(self, count: int = 1, **behaviour) -> None:
        with self.state.lock:
            self.state.script.extend(Behaviour(**behaviour) for _ in range(count))

    def fail_for(self, to: str, **behaviour) -> None:
        with self.state.lock:
            self.state.fail_to[to] = Behaviour(**behaviour)

    def chaos(self, share: float, seed: int = 0) -> None:
        with self.state.lock:
            self.state.chaos = (share, random.Random(seed))

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        with self.state.lock:
            self.state.media[media_id] = (content, mime_type)

    def add_template(self, name: str, *, status: str = "APPROVED", category: str = "UTILITY", language: str = "en"):
        with self.state.lock:
            self.state.templates.append(
                {"name": name, "status": status, "category": category, "language": language, "id": uuid.uuid4().hex}
            )

    # -- what happened -------------------------------------------------------------------------------------------
    @property
    def sent(self) -> list[Sent]:
        with self.state.lock:
            return list(self.state.sent)

    def sent_to(self, to: str) -> list[Sent]:
        return [s for s in self.sent if s.to == to.lstrip("+")]

    def duplicates(self) -> dict[str, int]:
        """Outbox ids (biz_opaque_callback_data) sent more than once."""
        counts: dict[str, int] = {}
        for item in self.sent:
            if item.tag:
                counts[item.tag] = counts.get(item.tag, 0) + 1
        return {tag: n for tag, n in counts.items() if n > 1}

    @property
    def requests(self) -> list[tuple[str, str, dict]]:
        with self.state.lock:
            return list(self.state.requests)

    def _next_behaviour(self, to: str) -> Behaviour | None:
        with self.state.lock:
            if self.state.script:
                return self.state.script.popleft()
            if to in self.state.fail_to:
                return self.state.fail_to[to]
            if self.state.chaos is not None:
                share, rng = self.state.chaos
                if rng.random() < share:
                    return Behaviour(code=rng.choice([131000, 130429, 131056]))
        return None

    def _record(self, payload: dict) -> Sent:
        item = Sent(wamid="wamid.HBgM" + uuid.uuid4().hex.upper(), payload=payload, at=time.time())
        with self.state.lock:
            self.state.sent.append(item)
        return item


def error_body(code: int, message: str | None = None, *, subcode: int | None = None) -> tuple[int, dict]:
    status, kind, default = ERRORS.get(code, (400, "OAuthException", f"(#{code}) error"))
    error = {
        "message": message or default,
        "type": kind,
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": default},
        "fbtrace_id": "A" + uuid.uuid4().hex[:22],
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}


class _Handler(QuickHandler):
    double: MetaDouble

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, code: int, message: str | None = None, status: int | None = None) -> None:
        default_status, body = error_body(code, message)
        self._json(status or default_status, body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.double.access_token}":
            self._error(190, "Invalid OAuth access token - Cannot parse access token")
            return False
        return True

    def _note(self) -> tuple[list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        with self.double.state.lock:
            self.double.state.requests.append((self.command, parts.path, dict(self.headers)))
        return [p for p in parts.path.split("/") if p], parse_qs(parts.query)

    def do_GET(self) -> None:  # noqa: N802
        double = self.double
        segments, query = self._note()
        if segments[:1] == ["media-bytes"] and len(segments) == 2:  # the CDN URL /{media_id} points at
            if not self._authorised():
                return
            found = double.state.media.get(segments[1])
            if found is None:
                self._error(100, "media not found", 404)
                return
            content, mime = found
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            return
        if not self._authorised():
            return
        if len(segments) == 2 and segments[1] == double.phone_number_id:
            self._json(
                200,
                {
                    "verified_name": "Coachbox Academy",
                    "code_verification_status": "VERIFIED",
                    "display_phone_number": "+1 555-078-3881",
                    "quality_rating": "GREEN",
                    "platform_type": "CLOUD_API",
                    "throughput": {"level": "STANDARD"},
                    "id": double.phone_number_id,
                },
            )
            return
        if len(segments) == 3 and segments[1] == double.waba_id and segments[2] == "message_templates":
            after = int((query.get("after") or ["0"])[0])
            page = double.state.templates[after : after + 2]  # small pages, so paging is exercised
            paging: dict = {"cursors": {"before": str(after), "after": str(after + len(page))}}
            if after + len(page) < len(double.state.templates):
                paging["next"] = f"{base_url(self.server)}{urlsplit(self.path).path}?after={after + len(page)}"
            self._json(200, {"data": page, "paging": paging})
            return
        if len(segments) == 2 and segments[1] in double.state.media:
            content, mime = double.state.media[segments[1]]
            self._json(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": f"{base_url(self.server)}/media-bytes/{segments[1]}",
                    "mime_type": mime,
                    "sha256": "0" * 64,
                    "file_size": len(content),
                    "id": segments[1],
                },
            )
            return
        self._error(100, f"Unsupported get request. Object with ID '{segments[-1] if segments else ''}' does not exist")

    def do_POST(self) -> None:  # noqa: N802
        double = self.double
        segments, _ = self._note()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._authorised():
            return
        if not (len(segments) == 3 and segments[1] == double.phone_number_id and segments[2] == "messages"):
            self._error(100, "Unknown path components")
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            self._error(100, "(#100) The parameter messaging_product is required.")
            return
        if payload.get("messaging_product") != "whatsapp" or not (payload.get("to") or payload.get("recipient")):
            self._error(100, "(#100) The parameter messaging_product and to are required.")
            return
        problem = _invalid(payload)
        if problem:
            self._error(131009, f"(#131009) Parameter value is not valid: {problem}", 400)
            return
        if double.state.delay:
            time.sleep(double.state.delay)
        behaviour = double._next_behaviour(payload.get("to") or payload.get("recipient"))
        if behaviour is not None:
            if behaviour.accept:
                double._record(payload)
            if behaviour.hang:
                time.sleep(behaviour.hang)
            self._error(behaviour.code or 131000, status=behaviour.status)
            return
        item = double._record(payload)
        to = payload.get("to") or payload.get("recipient")
        self._json(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": item.wamid}],
            },
        )


def _invalid(payload: dict) -> str | None:
    """The Cloud API's own limits, so a test sees what Meta would refuse."""
    kind = payload.get("type", "text")
    if kind == "text" and not (payload.get("text") or {}).get("body"):
        return "text.body is required"
    if kind == "interactive":
        interactive = payload.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            buttons = action.get("buttons") or []
            if not 1 <= len(buttons) <= 3:
                return "buttons must be 1-3"
            for button in buttons:
                reply = button.get("reply") or {}
                if not 1 <= len(reply.get("title", "")) <= 20 or len(reply.get("id", "")) > 256:
                    return "button title must be 1-20 characters"
        if interactive.get("type") == "list":
            rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
            if not 1 <= len(rows) <= 10:
                return "list rows must be 1-10"
            if any(not 1 <= len(row.get("title", "")) <= 24 for row in rows):
                return "row title must be 1-24 characters"
            if not 1 <= len(action.get("button", "")) <= 20:
                return "list button must be 1-20 characters"
        if len((interactive.get("body") or {}).get("text", "")) > 1024:
            return "body text must be at most 1024 characters"
    return None
