"""Request limits and bad input at the HTTP edge: clear 4xx, never a 500 or a traceback."""

from __future__ import annotations

import pytest


def test_it_refuses_a_body_over_the_size_limit(settings, services):
    """Enforced by Sanic's HTTP protocol before any handler runs, so this goes through a real server socket."""
    from coachbox.roots.app import create_app

    small = settings.replace(server={"max_body_bytes": 1024})
    app = create_app(small, services)
    request, response = app.test_client.post(
        "/webhooks/twilio", content=b"x" * 4096, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 413
    assert "Traceback" not in response.text


@pytest.mark.anyio
async def test_it_answers_unknown_routes_with_a_json_404_and_a_request_id(app):
    request, response = await app.asgi_client.get("/no/such/page")
    assert response.status == 404
    assert response.json["error"]
    assert response.headers.get("x-request-id")


def test_a_client_that_hangs_up_is_logged_as_such_not_as_our_error(caplog):
    """Sanic hands the error handler a RequestCancelled (a CancelledError) when the client went away mid-handler:
    an info line, no traceback in the logs, no 'unhandled error'."""
    from types import SimpleNamespace

    from sanic.exceptions import RequestCancelled

    from coachbox.roots.app import _QuietErrorHandler

    with caplog.at_level("INFO", logger="coachbox.web"):
        response = _QuietErrorHandler().default(SimpleNamespace(path="/webhooks/twilio"), RequestCancelled())
    assert response.status == 503
    assert [r.getMessage() for r in caplog.records] == ["request cancelled: the client went away"]
    assert all(r.levelname == "INFO" and r.exc_info is None for r in caplog.records)


def test_an_id_beyond_sqlite_integers_is_a_404_not_a_500():
    """Sanic's <id:int> takes any length of digits; binding one past 2**63 raises OverflowError in sqlite3."""
    from types import SimpleNamespace

    from coachbox.roots.app import _QuietErrorHandler

    response = _QuietErrorHandler().default(
        SimpleNamespace(path="/api/v1/learners/" + "9" * 30, headers={}),  # the API: JSON (an /admin path gets a page)
        OverflowError("Python int too large to convert to SQLite INTEGER"),
    )
    assert response.status == 404
