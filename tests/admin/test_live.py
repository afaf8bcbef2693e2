"""Live updates: the event hub, and SSE streams woken by commits (not by a timer), with the page still whole on reload."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time

import httpx
import pytest

from coachbox.admin import live
from coachbox.channels.base import Inbound
from coachbox.core import events
from coachbox.turns.runner import handle_inbound
from tests.admin.conftest import PASSWORD, add_learner, on_socket, signed_in

pytestmark = pytest.mark.anyio


class _Services:
    def __init__(self) -> None:
        self.hub = self.relay = None


async def test_it_wakes_a_subscriber_when_its_topic_is_published():
    services = _Services()
    with events.hub(services).subscribe("learner:1") as sub:
        events.publish(services, "learner:2")
        assert await sub.wait(0.05) is False
        events.publish(services, "learner:1")
        assert await sub.wait(1) is True
        # From another thread (a writer thread, an executor): handed to the loop, not set from outside it.
        threading.Thread(target=events.publish, args=(services, "learner:1")).start()
        assert await sub.wait(1) is True
    assert not events.hub(services).watching("learner:")


class _CacheServices:
    """A process's view of the shared data folder: its own diskcache handle on the same directory."""

    def __init__(self, directory) -> None:
        import diskcache

        self.hub = self.relay = None
        self.cache = diskcache.Cache(str(directory))


async def test_the_workers_commits_reach_the_web_process_through_the_relay(tmp_path):
    """The worker has no hub (no streams); what it publishes goes through diskcache to the web process's hub."""
    web, worker = _CacheServices(tmp_path / "cache"), _CacheServices(tmp_path / "cache")
    worker.relay = events.Relay(worker.cache)
    relay = asyncio.get_running_loop().create_task(events.relay_to_hub(web, poll=0.05))
    try:
        await asyncio.sleep(0.1)  # the relay notes where the counter stands: older writes are not replayed
        with events.hub(web).subscribe("broadcast:7") as sub:
            events.publish(worker, "learner:3", "outbox")
            assert await sub.wait(0.3) is False  # not this stream's topic
            events.publish(worker, "broadcast:7")
            assert await sub.wait(2) is True
    finally:
        relay.cancel()
        web.cache.close()
        worker.cache.close()


def test_the_relay_gathers_a_burst_into_few_cache_writes(tmp_path):
    """A sender at full rate publishes per message: the relay writes at most every RELAY_GAP_SECONDS."""
    worker = _CacheServices(tmp_path / "cache")
    relay = worker.relay = events.Relay(worker.cache)
    for n in range(500):
        events.publish(worker, f"learner:{n}", "outbox")
    time.sleep(events.RELAY_GAP_SECONDS + 0.2)  # the gathered rest is written by the timer
    written = worker.cache.get(events.RELAY_SEQ)
    assert written == 2  # the first at once, the other 499 together
    assert len(worker.cache.get(f"events:relay:{written}")) == 500  # learner:1…499 and outbox
    assert relay._timer is None
    time.sleep(events.RELAY_GAP_SECONDS + 0.1)
    events.publish(worker, "dashboard")  # written at once (the gap has passed)
    events.publish(worker, "outbox")  # pending behind the timer…
    relay.close()  # …and written now, as the worker stops
    assert worker.cache.get(events.RELAY_SEQ) == 4 and relay._timer is None
    worker.cache.close()


async def test_it_publishes_nothing_and_fails_nothing_without_a_hub():
    events.publish(_Services(), "dashboard")
    events.publish(None, "dashboard")
    events.message_changed(_Services(), 5)


@pytest.fixture
async def served(app, monkeypatch):
    """The app on a real socket in this event loop: the ASGI test client buffers a response, a stream needs bytes
    as they are sent."""
    monkeypatch.setattr(live, "FALLBACK_SECONDS", 30.0)  # so only a publish can deliver within the test's second
    async with on_socket(app) as base:
        yield base


async def _sign_in(http: httpx.AsyncClient, email: str) -> None:
    page = await http.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = await http.post(
        "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/admin/"}
    )
    assert answer.status_code == 303, answer.text


async def _next_event(lines, name: str, timeout: float) -> str:
    async def read() -> str:
        current = None
        async for line in lines:
            if line.startswith("event: "):
                current = line[7:]
            elif line.startswith("data: ") and current == name:
                return line[6:]
        raise AssertionError("stream ended")

    return await asyncio.wait_for(read(), timeout)


async def test_it_streams_an_inbound_turn_to_the_open_transcript_within_a_second(served, services, cast, conn, clock):
    learner_id = add_learner(conn, phone="+254700000009", channel="simulator")
    conn.execute("UPDATE learners SET channel_key = 'sim:+254700000009' WHERE id = ?", (learner_id,))
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        await _sign_in(http, "charlie@school.test")
        async with http.stream("GET", f"/admin/events/learners/{learner_id}?after=0") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            await asyncio.sleep(0.3)  # the first round (nothing yet) is read, the stream waits on the hub
            started = time.monotonic()
            await handle_inbound(
                services,
                Inbound(
                    channel="simulator",
                    address="sim:+254700000009",
                    body="Habari <b>yako</b>",
                    provider_sid="SIM-live-1",
                    received_at=clock.now(),
                    phone="+254700000009",
                ),
            )
            data = await _next_event(lines, "message-row", timeout=1.0)
            assert time.monotonic() - started < 1.0
            assert "Habari <b>yako</b>" in data and '"direction": "in"' in data
        # Without JavaScript the same message is on the page after a reload, escaped.
        page = await http.get(f"/admin/learners/{learner_id}")
        assert "Habari &lt;b&gt;yako&lt;/b&gt;" in page.text


async def test_it_streams_a_status_change_of_a_shown_message(served, services, cast, conn):
    learner_id = add_learner(conn)
    message_id = conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, provider_sid, created_at,
                                 updated_at) VALUES (?, 'out', 'whatsapp', 'whatsapp:+254700000001', 'Hello', 'sent',
                                 'SM1', '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    ).lastrowid
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        await _sign_in(http, "charlie@school.test")
        async with http.stream("GET", f"/admin/events/learners/{learner_id}?after={message_id}") as stream:
            lines = stream.aiter_lines()
            assert '"status": "sent"' in await _next_event(lines, "message-status", timeout=1.0)  # first round: all
            await asyncio.sleep(0.3)
            conn.execute("UPDATE messages SET status = 'failed', error_code = '63024' WHERE id = ?", (message_id,))
            events.message_changed(services, message_id)  # what the status callback does after its commit
            data = await _next_event(lines, "message-status", timeout=1.0)
            assert '"status": "failed"' in data and "Error 63024" in data


async def test_it_marks_bubbles_so_live_status_updates_find_them(app, client, cast, conn):
    learner_id = add_learner(conn)
    message_id = conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, created_at, updated_at)
           VALUES (?, 'out', 'whatsapp', 'x', 'Hi', 'delivered', '2026-03-01T00:00:00+00:00',
                   '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    ).lastrowid
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/learners/{learner_id}")
    assert f'id="m{message_id}"' in page.text and '<span class="status">delivered</span>' in page.text
    assert f'data-live="/admin/events/learners/{learner_id}?after={message_id}"' in page.text


async def test_it_streams_only_onto_the_newest_page_of_a_transcript(app, client, cast, conn):
    learner_id = add_learner(conn)
    await signed_in(client, "charlie@school.test")
    _, newest = await client.get(f"/admin/learners/{learner_id}")
    _, older = await client.get(f"/admin/learners/{learner_id}?before=5")
    assert "data-live=" in newest.text and "data-live=" not in older.text
