"""Every mutating admin route refuses a request without the CSRF token (403), whatever the role."""

from __future__ import annotations

import re

import pytest

from tests.admin.conftest import signed_in

pytestmark = pytest.mark.anyio


def _mutating_admin_paths(app) -> list[str]:
    paths = set()
    for route in app.router.routes:
        if not route.path.startswith("admin") or not (route.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            continue
        path = "/" + route.path
        path = re.sub(r"<[^>]*:int>", "1", path)
        path = re.sub(r"<action:([a-z]+)[^>]*>", r"\1", path)
        paths.add(path)
    return sorted(paths)


async def test_it_refuses_every_mutating_route_without_csrf(app, client, cast):
    await signed_in(client, "alice@school.test")
    paths = _mutating_admin_paths(app)
    assert len(paths) >= 25, paths
    for path in paths:
        _, response = await client.post(path, data={"csrf_token": "wrong"})
        assert response.status_code == 403, path


async def test_it_refuses_every_mutating_route_when_signed_out(app, client):
    for path in _mutating_admin_paths(app):
        _, response = await client.post(path, data={})
        assert response.status_code == 403, path
