"""GET /metrics behind [server] metrics_token (set here from the environment, as an operator would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachbox.core.config import Settings
from coachbox.ops.checks import check_metrics
from coachbox.web.health import metrics_allowed
from tests.conftest import REPO

TOKEN = "s3cret-metrics-token-for-tests"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The conftest settings, plus COACHBOX_SERVER_METRICS_TOKEN."""
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_SERVER_METRICS_TOKEN": TOKEN,
    }
    return Settings.load(REPO / "coachbox.toml", environ)


@pytest.mark.anyio
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
async def test_it_answers_401_without_the_right_bearer_token(app, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    _request, response = await app.asgi_client.get("/metrics", headers=headers)
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "coachbox_" not in response.body.decode() and "metrics_token" in response.body.decode()


@pytest.mark.anyio
async def test_it_serves_metrics_with_the_token_and_leaves_healthz_open(app):
    _request, response = await app.asgi_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200 and "coachbox_queue_pending" in response.body.decode()
    _request, health = await app.asgi_client.get("/healthz")
    assert health.status == 200


def test_an_empty_token_leaves_metrics_open_as_before():
    assert metrics_allowed(None, "") and metrics_allowed("Bearer anything", "")
    assert metrics_allowed(f"bearer {TOKEN}", TOKEN) and not metrics_allowed(f"Bearer {TOKEN} ", TOKEN + "y")
    assert not metrics_allowed("Bearer t\u00f6k\udc80", TOKEN)  # odd characters: refused, not a TypeError


def test_check_warns_when_metrics_are_open_on_every_address(tmp_path: Path):
    environ = {"COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"), "COACHBOX_SERVER_HOST": "0.0.0.0"}
    open_box = Settings.load(REPO / "coachbox.toml", environ)
    guarded = Settings.load(REPO / "coachbox.toml", {**environ, "COACHBOX_SERVER_METRICS_TOKEN": TOKEN})
    local = Settings.load(REPO / "coachbox.toml", {**environ, "COACHBOX_SERVER_HOST": "127.0.0.1"})
    [warning] = check_metrics(open_box)
    assert warning.level == "warn" and "COACHBOX_SERVER_METRICS_TOKEN" in warning.fix
    assert [f.level for f in check_metrics(guarded) + check_metrics(local)] == ["ok", "ok"]
