"""The sign-in throttle counts failures per client address: X-Forwarded-For's forged left-most entry is not one."""

from __future__ import annotations

import httpx
import pytest

from coachbox.admin import security as sec
from coachbox.roots.app import create_app
from tests.admin.conftest import PASSWORD, csrf_from, on_socket, sign_in

pytestmark = pytest.mark.anyio


def _fail_from(cache, ip: str) -> None:
    for n in range(sec.MAX_FAILS_PER_IP):
        sec.record_login_failure(cache, f"guess{n}@school.test", ip)


async def test_it_throttles_by_the_peer_when_no_proxy_is_trusted(app, client, cast, services):
    _fail_from(services.cache, "mockserver")  # the ASGI test client's peer
    client.headers["X-Forwarded-For"] = "198.51.100.77"  # a fresh forged address does not reset the count
    response = await sign_in(client, "bob@school.test")
    assert response.status_code == 429
    assert services.cache.get("admin-login-fail:ip:198.51.100.77") is None


async def test_it_throttles_by_the_address_our_proxy_saw_not_the_forged_one(settings, services, cast, conn):
    app = create_app(settings.replace(server={"trusted_proxies": "127.0.0.1"}), services, name="behind_proxy")
    _fail_from(services.cache, "203.0.113.9")  # the real client, as our proxy (on 127.0.0.1) appended it
    async with on_socket(app) as base, httpx.AsyncClient(base_url=base) as http:
        for forged in ("6.6.6.1", "6.6.6.2", "6.6.6.3"):
            page = await http.get("/admin/login")
            response = await http.post(
                "/admin/login",
                data={"email": "bob@school.test", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
                headers={"X-Forwarded-For": f"{forged}, 203.0.113.9"},
            )
            assert response.status_code == 429, forged
        # Another client behind the same proxy is not throttled, and its session records its own address.
        page = await http.get("/admin/login")
        response = await http.post(
            "/admin/login",
            data={"email": "bob@school.test", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
            headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.20"},
        )
        assert response.status_code == 303, response.text
    assert services.cache.get("admin-login-fail:ip:6.6.6.1") is None
    assert conn.execute("SELECT ip FROM admin_sessions").fetchone()[0] == "198.51.100.20"
