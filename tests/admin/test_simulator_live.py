"""The simulator page is the test learner's phone: what the box sends later (a follow-up quiz, the next lesson) reaches
the open page live, as it is sent, whichever process made it and sent it.

The real app on a socket (a stream needs bytes as they are sent), an editor signed in, the simulator API as the
page's JavaScript calls it, and the worker's jobs run as the worker runs them: its own Services (with the relay
to the web process), the registered Huey tasks. The box's clock is a fake one the test moves.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket

import httpx
import pytest

from coachbox.admin import live
from coachbox.content.importer import import_folder
from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import WorkerContext, register
from coachbox.roots.services import build_services
from tests.admin.conftest import PASSWORD, on_socket
from tests.conftest import DAYTIME

pytestmark = [pytest.mark.anyio, pytest.mark.at(DAYTIME)]  # 08:00 in Nairobi: nothing held for quiet hours

PHONE = "+254711000222"


@pytest.fixture
def settings(settings):
    """Without lean days: the follow-up quiz is what the box sends later here (the quiz starts in the lesson else)."""
    return settings.replace(learning={"lean_days": False})


@pytest.fixture
async def served(app, monkeypatch):
    monkeypatch.setattr(live, "FALLBACK_SECONDS", 30.0)  # only a publish (not the streams' re-read) delivers in time
    async with on_socket(app) as base:
        yield base


@pytest.fixture
def worker(settings, clock):
    """The worker process's side, in this process: its own Services and a Huey that runs a task when it is called."""
    context = WorkerContext(settings, build=lambda s: build_services(s, clock=clock))
    jobs = register(create_huey(settings, immediate=True), settings, context).extra
    yield jobs
    context.close()


async def _editor(http: httpx.AsyncClient) -> str:
    """Sign in as the editor; the simulator page's CSRF token."""
    page = await http.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = await http.post(
        "/admin/login", data={"email": "bob@school.test", "password": PASSWORD, "csrf_token": token, "next": "/admin/"}
    )
    assert answer.status_code == 303, answer.text
    page = await http.get("/admin/simulator", params={"phone": PHONE})
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


async def _events(lines, name: str, until: str, timeout: float) -> list[dict]:
    """The stream's `name` events up to the first whose body contains `until`."""
    got: list[dict] = []

    async def read() -> list[dict]:
        current = None
        async for line in lines:
            if line.startswith("event: "):
                current = line[7:]
            elif line.startswith("data: ") and current == name:
                got.append(json.loads(line[6:]))
                if until in got[-1]["body"]:
                    return got
        raise AssertionError(f"the stream ended; it sent {got}")

    return await asyncio.wait_for(read(), timeout)


async def test_it_streams_what_the_box_sends_later_to_the_open_simulator_page(
    served, services, conn, settings, clock, cast, worker
):
    import_folder(conn, settings.content_dir, settings, progress=None)
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        csrf = await _editor(http)

        async def say(text: str) -> dict:
            answer = await http.post(
                "/api/v1/simulator/messages",
                json={"phone": PHONE, "text": text, "name": "Amina"},
                headers={"X-CSRF-Token": csrf},
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        for text in ("hi", "yes", "1", "1"):
            await say(text)
        turn = await say("7")  # the first lesson, and "I'll send it [the quiz] in 30 minutes"
        learner_id, after = turn["learner_id"], turn["message_id"]
        assert after and all(reply["id"] > after for reply in turn["replies"])

        # The page the editor sees now: the phone so far, and the live feed from the newest row on.
        page = await http.get("/admin/simulator", params={"phone": PHONE})
        newest = conn.execute("SELECT MAX(id) FROM messages WHERE learner_id = ?", (learner_id,)).fetchone()[0]
        assert f'data-live="/admin/events/simulator/{learner_id}?after={newest}"' in page.text
        assert f'id="m{turn["replies"][-1]["id"]}"' in page.text

        async with http.stream("GET", f"/admin/events/simulator/{learner_id}?after={after}") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            # First round: this turn's replies (the page already has them from the POST; it skips them by id).
            shown = await _events(lines, "message-row", "I'll send it in 30 minutes", timeout=2)
            assert [row["id"] for row in shown] == [reply["id"] for reply in turn["replies"]]

            # Half an hour on, the worker's follow-up job writes the quiz and the worker's outbox drain sends it: the
            # relay carries its publish to this process, whose stream wakes (not its 30 s re-read).
            clock.advance(minutes=31)
            await asyncio.to_thread(worker["quiz_followups"])
            await asyncio.to_thread(worker["outbox_drain"])
            later = await _events(lines, "message-row", "Time for your quiz on *What is mobile money?*", timeout=3)
            assert later[-1]["direction"] == "out" and "quiz" in later[-1]["meta"]

            # The next morning the worker writes the daily lesson and this process's own sender sends it (as its
            # 5 s poll would): its publish wakes the stream directly.
            clock.set("2026-03-03T04:00:30+00:00")
            await asyncio.to_thread(worker["daily_lessons"])
            services.sender.kick()
            await _events(lines, "message-row", "*Keep your PIN secret*", timeout=3)

        # Without JavaScript (or after a reload) the same messages are on the page, and nothing still unsent.
        page = await http.get("/admin/simulator", params={"phone": PHONE})
        assert "Time for your quiz on" in page.text and "Keep your PIN secret" in page.text
