"""Security headers on every response: nosniff, a Referrer-Policy and a CSP, errors included; admin pages keep
the admin's CSP, pages with their own (the card-payment result, /verify) keep theirs."""

from __future__ import annotations

import pytest

from coachbox.admin.pages import CSP as ADMIN_CSP
from coachbox.web.headers import STRICT_CSP
from tests.admin.conftest import cast, client, password_hash, signed_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.anyio


def _assert_baseline(response, csp: str | None = STRICT_CSP) -> None:
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", dict(headers)
    assert headers.get("referrer-policy"), dict(headers)
    if csp is not None:
        assert headers.get("content-security-policy") == csp, dict(headers)
    else:
        assert headers.get("content-security-policy"), dict(headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/learners"),  # 401
        ("POST", "/webhooks/twilio"),  # 403: no signature
        ("POST", "/webhooks/twilio/status"),
        ("POST", "/webhooks/stripe"),  # 404: card payments are not configured
        ("POST", "/webhooks/mpesa/guess"),
        ("GET", "/media/1/x/media/lessons/pin.jpg"),  # 403: a forged link
        ("GET", "/no/such/page"),  # 404, JSON
        ("POST", "/api/v1/simulator/messages"),  # 403: sign in first
    ],
)
async def test_every_non_page_response_gets_the_strict_headers(app, method, path):
    _, response = await app.asgi_client.request(method, path)
    assert response.status < 500
    _assert_baseline(response)


async def test_a_500_gets_them_too(app):
    async def boom(request):
        raise RuntimeError("a bug")

    app.add_route(boom, "/boom")
    _, response = await app.asgi_client.get("/boom")
    assert response.status == 500
    _assert_baseline(response)


async def test_admin_pages_and_browser_error_pages_keep_the_admins_csp(app, client, cast):
    _, response = await client.get("/admin/login")
    assert response.status == 200
    _assert_baseline(response, ADMIN_CSP)
    _, response = await client.get("/no/such/page", headers={"accept": "text/html"})
    assert response.status == 404 and "text/html" in response.headers["content-type"]
    _assert_baseline(response, ADMIN_CSP)
    await signed_in(client, "bob@school.test")
    _, response = await client.get("/admin/simulator")
    assert response.status == 200
    _assert_baseline(response, ADMIN_CSP)
    _, response = await client.get("/admin/static/admin.css")
    assert response.status == 200
    _assert_baseline(response)  # a file: nothing to load or run


async def test_pages_with_their_own_policy_keep_it(app):
    _, response = await app.asgi_client.get("/payments/done")
    assert response.status == 200
    _assert_baseline(response, "default-src 'none'; style-src 'unsafe-inline'")
    assert response.headers["referrer-policy"] == "no-referrer"
