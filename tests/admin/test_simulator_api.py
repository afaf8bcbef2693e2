"""POST /api/v1/simulator/messages: a signed-in editor with the session's CSRF token, whatever the address."""

from __future__ import annotations

import json

import httpx
import pytest

from coachbox.content.importer import import_folder
from coachbox.roots.app import create_app
from tests.admin.conftest import PASSWORD, csrf_from, on_socket, signed_in

pytestmark = pytest.mark.anyio
API = "/api/v1/simulator/messages"
HI = {"phone": "+254712345678", "text": "hi", "name": "Amina"}


async def test_it_refuses_a_caller_without_a_session(client, conn):
    # The ASGI client, a local proxy or a web page on this machine: no address is enough.
    _, response = await client.post(API, json=HI)
    assert response.status_code in (401, 403)
    _, response = await client.post(
        API, content=b'{"phone": "+254712345678", "text": "hi"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code in (401, 403)
    assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 0


async def test_it_refuses_loopback_callers_without_a_session_or_csrf_token(app, cast, conn):
    # A reverse proxy or a browser page on this machine reaches the box from 127.0.0.1: that vouches for nothing.
    async with on_socket(app) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.post(API, json=HI)
        assert response.status_code in (401, 403)
        response = await http.post(API, content=json.dumps(HI), headers={"content-type": "text/plain"})
        assert response.status_code in (401, 403)
        page = await http.get("/admin/login")
        signed = await http.post(
            "/admin/login",
            data={"email": "bob@school.test", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        )
        assert signed.status_code == 303
        response = await http.post(API, json=HI)
        assert response.status_code == 403
        token = csrf_from((await http.get("/admin/account")).text)
        assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 0
        response = await http.post(API, json=HI, headers={"X-CSRF-Token": token})
        assert response.status_code == 200, response.text


async def test_it_refuses_a_session_without_its_csrf_token(client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    _, response = await client.post(API, json=HI)
    assert response.status_code == 403
    _, response = await client.post(API, json=HI, headers={"X-CSRF-Token": token[:-2] + "xx"})
    assert response.status_code == 403
    assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 0


async def test_it_refuses_viewers(client, cast):
    token = await signed_in(client, "charlie@school.test")
    _, response = await client.post(API, json=HI, headers={"X-CSRF-Token": token})
    assert response.status_code == 403


async def test_it_answers_an_editor_with_the_turns_replies(client, cast, conn, settings):
    import_folder(conn, settings.content_dir, settings, progress=None)
    token = await signed_in(client, "bob@school.test")
    _, response = await client.post(API, json=HI, headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    replies = response.json["replies"]
    assert "Welcome" in replies[0]["body"] and replies[0]["kind"] == "reply"
    status = conn.execute("SELECT status FROM messages WHERE id = ?", (replies[0]["id"],)).fetchone()[0]
    assert status in ("sent", "delivered")


async def test_it_rejects_bad_input(client, cast):
    token = await signed_in(client, "bob@school.test")
    _, response = await client.post(API, json={"phone": "0712", "text": "hi"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 400


async def test_it_hides_the_simulator_when_twilio_is_configured(settings, services, cast):
    from sanic_testing.testing import SanicASGITestClient

    twilio = settings.replace(twilio={"account_sid": "AC123", "auth_token": "secret"})
    services.settings = twilio
    client = SanicASGITestClient(create_app(twilio, services, name="twilio_on"))
    token = await signed_in(client, "bob@school.test")
    _, response = await client.post(API, json=HI, headers={"X-CSRF-Token": token})
    assert response.status_code == 404
