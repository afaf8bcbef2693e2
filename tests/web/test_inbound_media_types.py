"""Inbound media keep their claimed type only when it is on the allow-list; anything else is stored as .bin."""

from __future__ import annotations

import json

import pytest

from coachbox.core.hostile import SAFE_MEDIA, safe_media
from coachbox.roots.app import create_app
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    inbound_form,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("claimed", "stored"),
    [
        ("image/jpeg", ("image/jpeg", ".jpg")),
        ("IMAGE/PNG; charset=binary", ("image/png", ".png")),
        ("audio/ogg; codecs=opus", ("audio/ogg", ".ogg")),
        ("video/3gpp", ("video/3gpp", ".3gp")),
        ("application/pdf", ("application/pdf", ".pdf")),
        ("text/html", ("application/octet-stream", ".bin")),
        ("image/svg+xml", ("application/octet-stream", ".bin")),
        ("application/xhtml+xml", ("application/octet-stream", ".bin")),
        ("text/javascript", ("application/octet-stream", ".bin")),
        ("", ("application/octet-stream", ".bin")),
    ],
)
def test_only_allow_listed_types_keep_their_extension(claimed, stored):
    assert safe_media(claimed) == stored


def test_the_allow_list_is_images_audio_video_and_pdf():
    assert {kind.split("/")[0] for kind in SAFE_MEDIA} == {"image", "audio", "video", "application"}
    assert [kind for kind in SAFE_MEDIA if kind.startswith("application/")] == ["application/pdf"]


@pytest.fixture
def tapp(twilio_settings, tservices):
    return create_app(twilio_settings, tservices)


async def test_media_claimed_as_html_or_svg_is_stored_as_bin(tapp, conn, twilio_double, twilio_settings):
    sid = "MM" + "6" * 32
    page = twilio_double.add_media(sid, "ME" + "1" * 32, b"<script>alert(1)</script>", "text/html")
    svg = twilio_double.add_media(sid, "ME" + "2" * 32, b"<svg onload=alert(1)>", "image/svg+xml")
    photo = twilio_double.add_media(sid, "ME" + "3" * 32, b"\xff\xd8jpeg", "image/jpeg")
    form = inbound_form(
        sid=sid,
        body="",
        NumMedia="3",
        MediaUrl0=page,
        MediaContentType0="text/html",
        MediaUrl1=svg,
        MediaContentType1="image/svg+xml",
        MediaUrl2=photo,
        MediaContentType2="image/jpeg",
    )
    body, headers = signed_request("/webhooks/twilio", form)
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200
    media = json.loads(conn.execute("SELECT media FROM messages WHERE direction = 'in'").fetchone()[0])
    assert [(m["path"], m["content_type"]) for m in media] == [
        (f"media/inbound/{sid}-0.bin", "application/octet-stream"),
        (f"media/inbound/{sid}-1.bin", "application/octet-stream"),
        (f"media/inbound/{sid}-2.jpg", "image/jpeg"),
    ]
    assert not list((twilio_settings.data_dir / "media/inbound").glob("*.html"))
