"""Body size limits per route, on a real server socket (Sanic enforces REQUEST_MAX_SIZE in its HTTP protocol, which
the ASGI test client bypasses): lesson media up to 5 MB for pictures and 16 MB for other files, every other route
(the webhooks first) at [server] max_body_bytes; a 413 on an admin page is a page in words."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from coachbox.admin import courses
from coachbox.content.parser import MEDIA_LIMIT_BYTES, MEDIA_LIMIT_OTHER_BYTES
from tests.admin.conftest import PASSWORD, on_socket

pytestmark = pytest.mark.anyio
PNG = b"\x89PNG\r\n\x1a\n"
MP3 = b"ID3"


@pytest.fixture
async def served(app):
    """The app on a real socket in this event loop, with the box's own 1 MB [server] max_body_bytes."""
    assert app.config.REQUEST_MAX_SIZE == 1_048_576
    async with on_socket(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield http


async def _editor_with_a_lesson(http: httpx.AsyncClient, conn) -> tuple[str, int]:
    page = await http.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = await http.post(
        "/admin/login", data={"email": "bob@school.test", "password": PASSWORD, "csrf_token": token, "next": "/admin/"}
    )
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'data-csrf="([^"]+)"', (await http.get("/admin/account")).text).group(1)
    created = await http.post("/admin/courses", data={"title": "Saving", "language": "en", "csrf_token": csrf})
    course_id = int(created.headers["location"].split("/")[3].split("?")[0])
    await http.post(f"/admin/courses/{course_id}/lessons", data={"title": "Why save?", "csrf_token": csrf})
    lesson_id = conn.execute("SELECT id FROM lessons WHERE course_id = ?", (course_id,)).fetchone()[0]
    return csrf, lesson_id


async def _upload(http: httpx.AsyncClient, csrf: str, lesson_id: int, name: str, body: bytes) -> httpx.Response:
    return await http.post(
        f"/admin/lessons/{lesson_id}/media", data={"csrf_token": csrf}, files={"media": (name, body, "x/y")}
    )


async def test_lesson_media_takes_5_mb_pictures_and_16_mb_other_files(served, cast, conn, settings):
    csrf, lesson_id = await _editor_with_a_lesson(served, conn)
    picture = PNG + b"0" * (MEDIA_LIMIT_BYTES[".png"] - len(PNG))  # 5 MB: once refused at 1 MB
    saved = await _upload(served, csrf, lesson_id, "map.png", picture)
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved_heavy")
    assert list((settings.data_dir / "media" / "courses").rglob("map.png"))
    audio = MP3 + b"0" * (MEDIA_LIMIT_OTHER_BYTES - len(MP3))  # 16 MB
    saved = await _upload(served, csrf, lesson_id, "talk.mp3", audio)
    assert saved.status_code == 303
    media = conn.execute("SELECT media FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0]
    assert media.endswith("/talk.mp3") and (settings.data_dir / "media" / media).stat().st_size == len(audio)

    # A picture over 5 MB: the page says so, in words, with the way back.
    refused = await _upload(served, csrf, lesson_id, "big.png", picture + b"0" * 200_000)
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("text/html")
    assert "big.png is 5.2 MB" in refused.text and "at most 5 MB" in refused.text and "16 MB" in refused.text
    # Over 16 MB: refused before the form is parsed, the same kind of page.
    refused = await _upload(served, csrf, lesson_id, "long.mp3", audio + b"0" * 500_000)
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("text/html")
    assert "too large" in refused.text and "16.1 MB" in refused.text
    assert not list((settings.data_dir / "media").rglob("big.png")) and not list(
        (settings.data_dir / "media").rglob("long.mp3")
    )


async def test_every_other_route_keeps_the_small_limit(served, cast, conn):
    csrf, lesson_id = await _editor_with_a_lesson(served, conn)
    big = "x" * 1_100_000  # over [server] max_body_bytes
    webhook = await served.post(
        "/webhooks/twilio", content=f"Body={big}", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert webhook.status_code == 413 and webhook.headers["content-type"].startswith("application/json")
    lesson = await served.post(
        f"/admin/lessons/{lesson_id}", data={"title": "Long", "minutes": "5", "body": big, "csrf_token": csrf}
    )
    assert lesson.status_code == 413 and lesson.headers["content-type"].startswith("text/html")
    assert "too large" in lesson.text.lower()


def test_only_upload_routes_lift_the_limit_and_each_says_its_own(app):
    """stream=True lifts Sanic's limit for a route; its admin_view(max_body=…) then reads the body, up to that.
    No webhook is among them."""
    streaming = {route.path: route.handler for route in app.router.routes if getattr(route.handler, "is_stream", 0)}
    assert set(streaming) == {"admin/lessons/<lesson_id:int>/media"}
    for handler in streaming.values():
        assert vars(handler).get("max_body") == courses.MEDIA_BODY_MAX_BYTES
