"""GET /api/v1/costs: the Costs page's figures as JSON for integrations (editor tokens), in exact micros."""

from __future__ import annotations

import pytest

from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio


async def _tokens(client, *roles: str) -> list[dict]:
    csrf = await signed_in(client, "alice@school.test")
    headers = []
    for role in roles:
        _, page = await client.post("/admin/tokens", data={"name": role, "role": role, "csrf_token": csrf})
        headers.append({"Authorization": "Bearer " + page.text.split('readonly value="')[1].split('"')[0]})
    return headers


def _message(conn, learner_id, at, *, direction="out", kind="lesson", estimate=9000, actual=None, category="service"):
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, market, cost_category,
                                 cost_estimate_micros, cost_actual_micros, created_at, updated_at)
           VALUES (?, ?, 'whatsapp', 'whatsapp:+254700000001', 'x', ?, 'delivered', 'KE', ?, ?, ?, ?, ?)""",
        (learner_id, direction, kind, category, estimate, actual, at, at),
    )


async def test_it_gives_the_months_figures_in_micros(app, client, cast, conn):
    amina = add_learner(conn, cohort="Form 2")
    day = "2026-03-01T06:00:00+00:00"
    _message(conn, amina, day, direction="in", kind="inbound", estimate=5000, category="free")
    _message(conn, amina, day, kind="lesson", estimate=9000)
    _message(conn, amina, day, kind="quiz", estimate=9000, actual=9500)
    _message(conn, amina, day, kind="broadcast", estimate=27500, category="marketing")
    _message(conn, amina, "2026-02-27T06:00:00+00:00", kind="lesson", estimate=9000)  # February: not counted
    (headers,) = await _tokens(client, "editor")
    _, response = await client.get("/api/v1/costs?month=2026-03", headers=headers)
    assert response.status_code == 200, response.text
    data = response.json["data"]
    assert (data["month"], data["currency"], data["unit"], data["timezone"]) == (
        "2026-03",
        "USD",
        "micros",
        "Africa/Nairobi",
    )
    assert data["total"]["cost"] == 5000 + 9000 + 9500 + 27500 and data["total"]["estimate"] == 50500
    assert data["active_learners"] == 1 and data["per_active_learner_micros"] == 51000
    assert data["estimate_vs_actual"] == {
        "messages_priced": 1,
        "share_priced": 0.25,
        "actual_micros": 9500,
        "estimate_micros": 9000,
        "difference_micros": 500,
    }
    assert data["forecast"]["micros"] > data["total"]["cost"] and "last 7 days" in data["forecast"]["method"]
    assert {row["label"]: row["cost"] for row in data["by_kind"]} == {
        "broadcast": 27500,
        "quiz": 9500,
        "lesson": 9000,
        "inbound": 5000,
    }
    assert {row["label"] for row in data["by_category"]} == {"marketing", "service", "free"}
    assert [row["label"] for row in data["by_class"]] == ["Form 2"]
    assert data["days"] == [{"day": "2026-03-01", **{k: v for k, v in data["total"].items()}}]
    assert data["budget"]["level"] == "none" and data["budget"]["held_kinds"] == ["broadcast", "reminder"]
    _, february = await client.get("/api/v1/costs?month=2026-02", headers=headers)
    assert february.json["data"]["total"]["cost"] == 9000 and february.json["data"]["forecast"] is None


async def test_it_refuses_a_bad_month_and_viewer_tokens(app, client, cast, conn):
    headers, viewer = await _tokens(client, "editor", "viewer")
    _, response = await client.get("/api/v1/costs?month=2026-13", headers=headers)
    assert response.status_code == 400 and "write YYYY-MM" in response.json["error"]["message"]
    _, response = await client.get("/api/v1/costs", headers=headers)
    assert response.status_code == 200 and response.json["data"]["month"] == "2026-03"
    _, response = await client.get("/api/v1/costs", headers=viewer)
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


async def test_the_openapi_document_describes_it(app, client):
    _, response = await client.get("/api/v1/openapi.json")
    costs = response.json["paths"]["/costs"]["get"]
    assert costs["parameters"][0]["name"] == "month" and "400" in costs["responses"]
