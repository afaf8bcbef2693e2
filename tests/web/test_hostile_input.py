"""Hostile input: lone surrogates, deep nesting, odd encodings and sizes get a 4xx and a log line, never a 500.

The first tests reproduce each reported 500 with valid credentials (a Stripe signature over the hostile body, the
M-PESA path secret, an editor's API token, an admin session with its CSRF token). The last one throws generated
bodies at every route of the app (read from app.router.routes, so a new route is covered without a change here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coachbox.channels.twilio.webhook import FormData
from tests.admin.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    add_learner,
    cast,
    client,
    csrf_from,
    on_socket,
    password_hash,
    signed_in,
)
from tests.doubles.twilio_fixtures import twilio_signature
from tests.payments import stripe_double as sd

MPESA_SECRET = "cb-" + "5e" * 24
TWILIO_TOKEN = "twilio-token-for-hostile-input"
DEEP = b"[" * 5000 + b"]" * 5000
# Valid JSON text (escapes only), hostile values: every route that reads JSON must refuse these with a 4xx.
HOSTILE_JSON = {
    "lone surrogate": b'{"id": "evt_\\ud800", "type": "invoice.paid", "body": "hi \\ud800", "phone": "+254712345678", '
    b'"text": "\\udfff", "Body": {"stkCallback": {"CheckoutRequestID": "ws_\\ud800", "ResultCode": 0}}}',
    "surrogate key": b'{"\\udc00": 1, "body": "x", "id": "evt_1", "type": "t"}',
    "5,000 deep": DEEP,
    "65 deep": b'{"id": "evt_1", "type": "t", "body": "x", "data": ' + b"[" * 65 + b"]" * 65 + b"}",
    "not UTF-8": b'{"body": "\xed\xa0\x80", "id": "evt_\xff", "type": "t"}',
    "4,301-digit number": b'{"id": "evt_1", "type": "t", "body": "x", "n": ' + b"9" * 4301 + b"}",
}


@pytest.fixture
def settings(settings):
    """Stripe's webhook secret, M-PESA's path secret and a Twilio auth token (the simulator stays the channel)."""
    return settings.replace(
        stripe={"webhook_secret": sd.WEBHOOK_SECRET},
        mpesa={"callback_secret": MPESA_SECRET},
        twilio={"auth_token": TWILIO_TOKEN},
    )  # public_url stays http://: the admin's cookies are Secure under https://, and these clients speak http


async def _api_token(client, role: str = "editor") -> str:
    csrf = await signed_in(client, "alice@school.test")
    _, page = await client.post("/admin/tokens", data={"name": "fuzz", "role": role, "csrf_token": csrf})
    return page.text.split('readonly value="')[1].split('"')[0]


def _logged(caplog, words: str) -> bool:
    return any(words in record.getMessage() for record in caplog.records)


# -- each reported 500, reproduced with valid credentials ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_a_signed_hostile_stripe_body_gets_a_400_and_a_log_line(app, conn, body, caplog):
    headers = {"content-type": "application/json", "stripe-signature": sd.sign(body)}
    with caplog.at_level("WARNING", logger="coachbox.web.payments"):
        _, response = await app.asgi_client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status == 400, response.text
    assert _logged(caplog, "stripe webhook body")
    assert conn.execute("SELECT count(*) FROM payment_events").fetchone()[0] == 0


@pytest.mark.anyio
@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_a_hostile_mpesa_callback_is_kept_for_review_not_a_500(app, conn, body, caplog):
    """Daraja retries anything but ResultCode 0, and a retry of garbage helps no one: 200, review row, log line."""
    with caplog.at_level("WARNING", logger="coachbox.web.payments"):
        _, response = await app.asgi_client.post(f"/webhooks/mpesa/{MPESA_SECRET}", content=body)
    assert response.status == 200 and response.json["ResultCode"] == 0
    assert _logged(caplog, "mpesa callback unreadable")
    [review] = conn.execute("SELECT reason FROM payment_reviews").fetchall()
    assert review[0] == "malformed"


@pytest.mark.anyio
@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_the_api_answers_hostile_json_with_its_400_error_object(client, cast, conn, body, caplog):
    learner_id = add_learner(conn)
    token = await _api_token(client)
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    with caplog.at_level("WARNING", logger="coachbox.web.bodies"):
        _, response = await client.post(f"/api/v1/learners/{learner_id}/messages", content=body, headers=headers)
    assert response.status == 400, response.text
    assert response.json["error"]["code"] == "invalid"
    assert _logged(caplog, "request body refused")
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


@pytest.mark.anyio
@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_the_simulator_api_answers_hostile_json_with_a_400(client, cast, conn, body, caplog):
    csrf = await signed_in(client, "bob@school.test")
    headers = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    with caplog.at_level("WARNING", logger="coachbox.web.bodies"):
        _, response = await client.post("/api/v1/simulator/messages", content=body, headers=headers)
    assert response.status == 400, response.text
    assert _logged(caplog, "request body refused")
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def _multipart(fields: dict[str, str], charset: str) -> tuple[bytes, str]:
    """A multipart form whose parts declare `charset`: 'unicode_escape' turns the text '\\ud800' into a lone
    surrogate in Sanic's parser, which SQLite then cannot encode."""
    boundary = "hostileboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: text/plain; charset={charset}\r\n\r\n{value}\r\n"
        for name, value in fields.items()
    ]
    return "".join(parts).encode(
        "utf-8", "surrogatepass"
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.anyio
async def test_form_text_with_a_lone_surrogate_is_mended_not_a_500(client, cast, conn):
    learner_id = add_learner(conn)
    csrf = await signed_in(client, "bob@school.test")
    body, content_type = _multipart({"cohort": "May \\ud800 group", "csrf_token": csrf}, "unicode_escape")
    _, response = await client.post(
        f"/admin/learners/{learner_id}/cohort",
        content=body,
        headers={"content-type": content_type},
        follow_redirects=False,
    )
    assert response.status == 303, response.text
    assert conn.execute("SELECT cohort FROM learners WHERE id = ?", (learner_id,)).fetchone()[0] == "May \ufffd group"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "form",
    [
        b"From=whatsapp%3A%2B254700000001&Body=%ED%A0%80&MessageSid=SM1&NumMedia=0",  # an encoded surrogate
        b"From=whatsapp%3A%2B254700000001&Body=%FF%FE&MessageSid=SM2&NumMedia=0",  # not UTF-8
        b"From=whatsapp%3A%2B254700000001&Body=\\ud800&MessageSid=SM3&NumMedia=0",
    ],
)
async def test_a_signed_twilio_form_with_odd_bytes_is_not_a_500(app, settings, conn, form):
    path = "/webhooks/twilio"
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(settings.server.public_url + path, FormData.parse(form), TWILIO_TOKEN),
    }
    _, response = await app.asgi_client.post(path, content=form, headers=headers)
    assert response.status < 500, response.text


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/webhooks/twilio", "/webhooks/twilio/status?m=1"])
async def test_a_signature_header_with_non_ascii_bytes_is_a_403_not_a_500(app, path):
    """The signature is compared with hmac.compare_digest, which raises on a str with non-ASCII characters: the header
    is compared as bytes (issue #15 made the check our own)."""
    form = b"From=whatsapp%3A%2B254700000001&Body=hi&MessageSid=SM9&NumMedia=0&MessageStatus=sent"
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": b"abc\xc3\xa9\xff="}
    _, response = await app.asgi_client.post(path, content=form, headers=headers)
    assert response.status == 403, response.text


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/admin/static/%00", "/admin/static/admin.css%00.js", "/verify/%00"])
async def test_a_nul_byte_in_the_path_is_a_400_not_a_500(app, path, caplog):
    with caplog.at_level("WARNING", logger="coachbox.web.bodies"):
        _, response = await app.asgi_client.get(path)
    assert response.status == 400
    assert _logged(caplog, "NUL byte")


# -- a declared size far past the limit: refused before the body is read --------------------------------------------


def _raw_status(base: str, request: bytes) -> int:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        first = sock.recv(200).split(b"\r\n", 1)[0]
    return int(first.split()[1])


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    ["/webhooks/stripe", "/webhooks/twilio", f"/webhooks/mpesa/{MPESA_SECRET}", "/api/v1/simulator/messages"],
)
async def test_a_huge_content_length_is_a_413(app, path):
    async with on_socket(app) as base:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: 99999999999999\r\n\r\n{{}}"
        ).encode()
        status = await asyncio.to_thread(_raw_status, base, request)
    assert status == 413


# -- every route, generated input ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _served(app) -> Iterator[str]:
    """The app on a real socket, its own event loop in a thread: hypothesis drives it with a plain httpx client."""
    box: dict = {}
    ready = threading.Event()

    def serve() -> None:
        async def main() -> None:
            box["stop"] = asyncio.Event()
            async with on_socket(app) as base:
                box["base"] = base
                ready.set()
                await box["stop"].wait()

        box["loop"] = asyncio.new_event_loop()
        box["loop"].run_until_complete(main())
        box["loop"].close()

    thread = threading.Thread(target=serve, name="hostile-input-server", daemon=True)
    thread.start()
    assert ready.wait(20), "the app did not start"
    try:
        yield box["base"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(20)


def _sign_in(http: httpx.Client) -> str:
    """Alice (owner) signed in on `http`'s cookie jar; returns the session's CSRF token."""
    token = csrf_from(http.get("/admin/login").text)
    http.post("/admin/login", data={"email": "alice@school.test", "password": PASSWORD, "csrf_token": token})
    return csrf_from(http.get("/admin/account").text)


EXAMPLES_PER_ROUTE = 25  # x 88 route-methods: about 2,200 requests, ~15 s on one core
PARAM = re.compile(r"<([^:>]+)(?::([^>]+))?>")
ODD_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
SURROGATE_TEXT = st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010, exclude_categories=()), max_size=8)
TEXT = st.one_of(ODD_TEXT, SURROGATE_TEXT, st.sampled_from(["", "=1+1", "../../etc/passwd", "\x00", "ü" * 30]))


def _value(name: str, kind: str | None, ids: dict[str, int]):
    """A strategy for one path parameter: real ids and secrets (so the handler runs), plus out-of-range ones."""
    if kind == "int":
        return st.sampled_from([ids.get(name, 1), 0, 999_999, 10**20])
    if kind and "|" in kind:
        return st.sampled_from(kind.split("|"))
    if name == "secret":
        return st.sampled_from([MPESA_SECRET, "wrong"])
    return TEXT.map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="") or "x")


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()


def _json_of(value) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate becomes the escape "\ud800"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
BODIES = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=200).map(lambda raw: b"\xed\xa0\x80\xff" + raw),  # not UTF-8
    st.sampled_from(list(HOSTILE_JSON)).map(HOSTILE_JSON.__getitem__),
    JSON_VALUES.map(_json_of),
    st.lists(st.tuples(TEXT, TEXT), max_size=5).map(_form),
    st.dictionaries(TEXT, TEXT, max_size=3).map(lambda d: _multipart(d, "unicode_escape")[0]),
)
# Header values a client may send that are not ASCII: visible bytes, spaces inside, and any byte over 0x7f (HTTP
# clients refuse control characters and leading or trailing blanks before they reach the server).
ODD_CREDENTIALS = st.dictionaries(
    st.sampled_from(
        ["x-twilio-signature", "x-hub-signature-256", "stripe-signature", "x-csrf-token", "authorization", "cookie"]
    ),
    st.lists(st.integers(0x20, 0xFF).filter(lambda c: c != 0x7F), min_size=1, max_size=40)
    .map(bytes)
    .filter(lambda b: b == b.strip()),
    max_size=3,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=hostileboundary",
        "multipart/form-data",
        "text/plain; charset=utf-16",
        "application/octet-stream",
        "text/csv",
        "",
        "application/json; charset=utf-7",
        "text/html; charset=nonsense",
    ]
)
QUERIES = st.lists(st.tuples(TEXT, TEXT), max_size=3).map(
    lambda pairs: urlencode(pairs, encoding="utf-8", errors="surrogatepass")
)


def _routes(app) -> list[tuple[str, str, list[tuple[str, str | None]]]]:
    found = []
    for route in app.router.routes:
        params = PARAM.findall(route.raw_path)
        for method in sorted(route.methods):
            found.append((method, "/" + route.raw_path, [(name, kind or None) for name, kind in params]))
    return found


class _Fuzz:
    """What every attempt needs: the two clients, the credentials, the ids to aim at."""

    def __init__(self, signed: httpx.Client, anon: httpx.Client, csrf: str, bearer: str, ids: dict, public_url: str):
        self.signed, self.anon, self.csrf, self.bearer, self.ids, self.public_url = (
            signed,
            anon,
            csrf,
            bearer,
            ids,
            public_url,
        )

    def route(self, method: str, path: str, params: list[tuple[str, str | None]]) -> None:
        """Generated requests to one route; AssertionError (hypothesis's smallest example) on a 5xx."""

        @hsettings(
            max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(data=st.data())
        def attempt(data) -> None:
            url = path
            for name, kind in params:
                value = data.draw(_value(name, kind, self.ids), label=name)
                url = PARAM.sub(lambda _m, v=str(value): v, url, count=1)
            query = data.draw(QUERIES, label="query")
            body = data.draw(BODIES, label="body") if method not in ("GET", "HEAD") else b""
            content_type = data.draw(CONTENT_TYPES, label="content type")
            headers = {"content-type": content_type} if content_type else {}
            authenticated = data.draw(st.booleans(), label="authenticated")
            if (
                not authenticated
            ):  # credentials of odd bytes: compared in constant time, they must be refused, not crash
                headers |= data.draw(ODD_CREDENTIALS, label="odd credentials")
            if authenticated:
                headers |= {"X-CSRF-Token": self.csrf, "Authorization": f"Bearer {self.bearer}"}
                if path.startswith("/webhooks/twilio"):
                    signed_url = f"{self.public_url}{url}" + (f"?{query}" if query else "")
                    headers["x-twilio-signature"] = twilio_signature(signed_url, FormData.parse(body), TWILIO_TOKEN)
                if path == "/webhooks/stripe":
                    headers["stripe-signature"] = sd.sign(body)
            http = self.signed if authenticated else self.anon
            target = url + (f"?{query}" if query else "")
            # Streamed: only the status is read, so a live page's endless event stream does not hold the run.
            with http.stream(method, target, content=body, headers=headers) as response:
                if response.status_code >= 500:
                    reason = response.read()[:300].decode(errors="replace")
                    raise AssertionError(f"{target[:120]}: {response.status_code} {reason}")

        attempt()


@pytest.mark.slow
def test_no_route_answers_5xx_to_generated_hostile_input(app, settings, cast, conn):
    learner_id = add_learner(conn)
    add_learner(conn, phone="+254700000002", name="Baraka")
    # Ids to aim at: existing rows, but never the signed-in owner (alice): disabling her ends the run's session.
    ids = {"learner_id": learner_id, "admin_id": cast["bob@school.test"]}
    routes = _routes(app)
    assert len(routes) > 60, routes  # every route, read from the router
    failures: list[str] = []
    with (
        _served(app) as base,
        httpx.Client(base_url=base, timeout=10) as signed,
        httpx.Client(base_url=base, timeout=10) as anon,
    ):
        csrf = _sign_in(signed)
        page = signed.post("/admin/tokens", data={"name": "fuzz", "role": "owner", "csrf_token": csrf}).text
        bearer = page.split('readonly value="')[1].split('"')[0]
        fuzz = _Fuzz(signed, anon, csrf, bearer, ids, settings.server.public_url)
        for method, path, params in routes:
            if path == "/admin/logout":
                continue  # would end the session the rest of the run needs (and it reads no body)
            try:
                fuzz.route(method, path, params)
            except (AssertionError, httpx.HTTPError) as exc:  # a 5xx, or no answer at all
                failures.append(f"{method} {path}: {str(exc).splitlines()[0][:400]}")
    assert not failures, "\n".join(failures)
    statuses = app.ctx.metrics["requests"]  # (method, route, status) -> count, kept by the app
    assert sum(statuses.values()) > len(routes) * EXAMPLES_PER_ROUTE // 2
    print(
        {
            status: sum(n for (_, _, s), n in statuses.items() if s == status)
            for status in sorted({k[2] for k in statuses})
        }
    )
