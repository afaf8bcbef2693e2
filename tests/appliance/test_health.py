"""GET /healthz and GET /metrics through the ASGI test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

# One Prometheus text-format sample: name{label="value",…} number
_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$')


@pytest.mark.anyio
async def test_it_reports_db_queue_and_channel_in_healthz(app):
    request, response = await app.asgi_client.get("/healthz")
    assert response.status == 200
    assert response.json["status"] == "ok"
    assert response.json["db"]["ok"] is True
    assert response.json["queue"]["ok"] is True
    assert response.json["channel"] == "simulator"


@pytest.mark.anyio
async def test_it_serves_metrics_in_prometheus_text_format(app):
    await app.asgi_client.get("/healthz")
    request, response = await app.asgi_client.get("/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.body.decode().splitlines()
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or _SAMPLE.match(line), line
    assert any(line.startswith("coachbox_requests_total{") and 'route="healthz"' in line for line in lines)
    assert "coachbox_queue_pending 0" in lines


@pytest.mark.anyio
async def test_it_counts_the_outbox_backlog_cheaply_and_totals_in_metrics(app, conn, clock):
    from coachbox.store.messages import OutboxDraft, enqueue_outbound

    stamp = clock.now().isoformat()
    learner = conn.execute(
        "INSERT INTO learners (channel_key, created_at, updated_at) VALUES ('sim:+254700000001', ?, ?)",
        (stamp, stamp),
    ).lastrowid
    for n, status in enumerate(("queued", "queued", "sent")):
        enqueue_outbound(
            conn,
            learner_id=learner,
            channel="simulator",
            address="sim:+254700000001",
            draft=OutboxDraft(body=f"hello {n}", idempotency_key=f"k{n}"),
            now=clock.now(),
            status=status,
            # not due yet: the web process's background Sender would otherwise send them between the two requests
            next_attempt_at=clock.now() + timedelta(hours=1),
        )
    request, response = await app.asgi_client.get("/healthz")
    assert response.json["db"]["outbox_backlog"]["queued"] == 2
    assert "sent" not in response.json["db"]["outbox_backlog"]  # the total of all time is not a health check's job
    request, response = await app.asgi_client.get("/metrics")
    lines = response.body.decode().splitlines()
    assert 'coachbox_outbox_backlog{status="queued"} 2' in lines
    assert 'coachbox_outbox_messages{status="sent"} 1' in lines


@pytest.mark.anyio
async def test_healthz_reports_the_worker_heartbeat_and_503_once_it_is_silent_too_long(app, conn, clock):
    from coachbox.store import heartbeat

    heartbeat.beat(conn, heartbeat.TICK_KEY, clock.now())
    heartbeat.beat(conn, heartbeat.TASK_KEY, clock.now())
    request, response = await app.asgi_client.get("/healthz")
    worker = response.json["worker"]
    assert response.status == 200, response.json
    assert worker["ok"] is True and worker["limit_seconds"] == 180
    assert worker["last_tick"] == clock.now().isoformat() and worker["last_task"] == clock.now().isoformat()

    clock.advance(seconds=181)
    request, response = await app.asgi_client.get("/healthz")
    assert response.status == 503
    assert response.json["status"] == "degraded"
    assert response.json["worker"]["ok"] is False and response.json["worker"]["silent_seconds"] == 181
    assert "worker (Huey consumer)" in response.json["worker"]["error"]

    heartbeat.beat(conn, heartbeat.TASK_KEY, clock.now())  # the worker is back (restarted): healthy again
    request, response = await app.asgi_client.get("/healthz")
    assert response.status == 200 and response.json["worker"]["silent_seconds"] == 0
