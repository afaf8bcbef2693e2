"""Errors a person meets are pages in words with a way back; programs (the API, webhooks, live streams) keep JSON."""

from __future__ import annotations

import pytest

from tests.admin.conftest import signed_in

pytestmark = pytest.mark.anyio

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _is_page(response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    assert not response.text.lstrip().startswith("{")
    assert 'href="/admin/' in response.text  # a way back


async def test_an_admin_address_gets_a_page_even_without_a_browsers_accept_header(app, client, cast):
    _, missing = await client.get("/admin/no/such/page", headers={"accept": "*/*"})
    _is_page(missing, 404)
    assert "There is no such page" in missing.text
    await signed_in(client, "charlie@school.test")
    _, refused = await client.get("/admin/operations", headers={"accept": "*/*"})
    _is_page(refused, 403)
    assert "Not allowed" in refused.text and "This needs the owner role; you are signed in as viewer." in refused.text
    _, gone = await client.get("/admin/learners/424242", headers=BROWSER)
    _is_page(gone, 404)
    assert "No such learner." in gone.text
    _, gone = await client.get("/admin/broadcasts/424242")
    _is_page(gone, 404)


async def test_refusing_to_demote_the_last_owner_says_why_on_the_users_page(app, client, cast):
    token = await signed_in(client, "alice@school.test")
    alice = cast["alice@school.test"]
    _, refused = await client.post(f"/admin/users/{alice}/role", data={"csrf_token": token, "role": "editor"})
    _is_page(refused, 409)
    assert "alice@school.test is the only owner: make someone else owner first" in refused.text
    assert "<h1>Users" in refused.text  # the page itself, with its forms, not a dead end
    _, refused = await client.post(f"/admin/users/{alice}/disable", data={"csrf_token": token, "confirm": "yes"})
    _is_page(refused, 409)
    assert "only active owner" in refused.text


async def test_a_stale_form_is_a_page_that_says_to_reload(app, client, cast):
    await signed_in(client, "alice@school.test")
    _, refused = await client.post("/admin/broadcasts", data={"csrf_token": "stale", "body": "Hi"})
    _is_page(refused, 403)
    assert "Reload the page and try again" in refused.text


async def test_programs_keep_their_json_errors(app, client, cast):
    _, api = await client.get("/api/v1/learners", headers=BROWSER)
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/json")
    _, other = await client.get("/no/such/thing", headers={"accept": "application/json"})
    assert other.status_code == 404 and other.json["error"]
    _, webhook = await client.post("/webhooks/no-such-provider", data={"Body": "hi"}, headers=BROWSER)
    assert webhook.status_code == 404 and webhook.headers["content-type"].startswith("application/json")


async def test_the_boxs_address_leads_to_the_admin_page(app, client):
    _, home = await client.get("/", headers=BROWSER, follow_redirects=False)
    assert home.status_code in (301, 302, 303) and home.headers["location"] == "/admin/"
