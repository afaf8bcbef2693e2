"""Admin test fixtures: a cast of admins (alice owns, bob edits, charlie views), a cookie-keeping client, sign-in."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import AsyncIterator

import pytest
from sanic_testing.testing import SanicASGITestClient

from coachbox.admin.passwords import hash_password

PASSWORD = "correct horse battery"
CAST = {"alice@school.test": "owner", "bob@school.test": "editor", "charlie@school.test": "viewer"}


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2id is slow on purpose: hash once per run


@pytest.fixture
def cast(conn, password_hash) -> dict[str, int]:
    ids = {}
    for email, role in CAST.items():
        cursor = conn.execute(
            "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, ?, '2026-03-01T00:00:00+00:00')",
            (email, password_hash, role),
        )
        ids[email] = cursor.lastrowid
    return ids


@pytest.fixture
def client(app) -> SanicASGITestClient:
    return SanicASGITestClient(app)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'data-csrf="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def sign_in(client: SanicASGITestClient, email: str, password: str = PASSWORD):
    _, page = await client.get("/admin/login")
    token = csrf_from(page.text)
    _, response = await client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/admin/"},
        follow_redirects=False,
    )
    return response


async def signed_in(client: SanicASGITestClient, email: str) -> str:
    """Sign in and return the session's CSRF token."""
    response = await sign_in(client, email)
    assert response.status_code == 303, response.text
    _, page = await client.get("/admin/account")
    return csrf_from(page.text)


def add_learner(
    conn,
    *,
    name="Amina",
    phone="+254700000001",
    status="active",
    cohort=None,
    profile_name=None,
    last_inbound_at=None,
    channel="whatsapp",
) -> int:
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, profile_name, status, cohort, last_inbound_at,
                                 created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (f"{channel}:{phone}", channel, phone, name, profile_name, status, cohort, last_inbound_at),
    )
    return cursor.lastrowid


@contextlib.asynccontextmanager
async def on_socket(app) -> AsyncIterator[str]:
    """The app on a real socket in this event loop (the ASGI test client buffers a response and skips the body-size
    check; a stream or an upload limit needs real bytes); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
