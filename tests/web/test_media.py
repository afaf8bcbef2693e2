"""GET /media/…: signed, expiring URLs for files under data/media and data/certificates."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from coachbox.channels.signed_urls import media_secret, signed_media_url
from coachbox.roots.app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def media_app(settings, services):
    (settings.data_dir / "media/lessons").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "media/lessons/pin.jpg").write_bytes(b"\xff\xd8pin")
    (settings.data_dir / "certificates").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "certificates/ABC123.pdf").write_bytes(b"%PDF-1.4 cert")
    (settings.data_dir / "secret.txt").write_text("not for you")
    return create_app(settings, services)


async def _url(services, path: str, **delta) -> str:
    secret = await media_secret(services)
    full = signed_media_url(services.settings, secret, path, services.clock.now() + timedelta(**delta))
    return urlsplit(full).path


async def test_it_serves_a_signed_lesson_image_and_certificate(media_app, services):
    _, response = await media_app.asgi_client.get(await _url(services, "media/lessons/pin.jpg", hours=1))
    assert response.status == 200 and response.body == b"\xff\xd8pin"
    assert response.headers["content-type"] == "image/jpeg"
    _, response = await media_app.asgi_client.get(await _url(services, "certificates/ABC123.pdf", hours=1))
    assert response.status == 200 and response.body.startswith(b"%PDF")


async def test_it_refuses_an_expired_link(media_app, services, clock):
    path = await _url(services, "media/lessons/pin.jpg", minutes=5)
    clock.advance(minutes=6)
    _, response = await media_app.asgi_client.get(path)
    assert response.status == 403


async def test_it_refuses_a_forged_or_altered_link(media_app, services):
    path = await _url(services, "media/lessons/pin.jpg", hours=1)
    _, expires, signature, *rest = path.split("/")[1:]
    forged = f"/media/{int(expires) + 3600}/{signature}/{'/'.join(rest)}"
    _, response = await media_app.asgi_client.get(forged)
    assert response.status == 403
    _, response = await media_app.asgi_client.get(path.replace("pin.jpg", "pin.jpeg"))
    assert response.status == 403
    _, response = await media_app.asgi_client.get(f"/media/{expires}/{'A' * 43}/{'/'.join(rest)}")
    assert response.status == 403


async def test_it_never_leaves_the_media_folders(media_app, services):
    secret = await media_secret(services)
    for bad in ["secret.txt", "media/../secret.txt", "/etc/passwd", "cache/x", "certificates/../../etc/passwd"]:
        with pytest.raises(ValueError):
            signed_media_url(services.settings, secret, bad, services.clock.now() + timedelta(hours=1))
    path = await _url(services, "media/lessons/pin.jpg", hours=1)
    _, expires, signature, *_ = path.split("/")[1:]
    for traversal in [
        "media/lessons/../../secret.txt",
        "media/%2e%2e/secret.txt",
        "media/lessons/..%2f..%2fsecret.txt",
    ]:
        _, response = await media_app.asgi_client.get(f"/media/{expires}/{signature}/{traversal}")
        assert response.status in (403, 404)
        assert b"not for you" not in response.body


async def test_it_answers_404_for_a_signed_link_to_a_missing_file(media_app, services):
    _, response = await media_app.asgi_client.get(await _url(services, "media/lessons/gone.jpg", hours=1))
    assert response.status == 404


@pytest.mark.parametrize(
    ("name", "content", "content_type", "download"),
    [
        ("media/lessons/pin.jpg", b"\xff\xd8pin", "image/jpeg", False),  # shown inline on a page
        ("media/inbound/SM1-0.ogg", b"OggS", "audio/ogg", False),
        ("certificates/ABC123.pdf", b"%PDF-1.4 cert", "application/pdf", True),
        ("media/inbound/SM1-1.bin", b"<script>alert(1)</script>", "application/octet-stream", True),
        ("media/inbound/SM1-2.html", b"<script>alert(1)</script>", "application/octet-stream", True),  # before #18
        ("media/inbound/SM1-3.svg", b"<svg onload=alert(1)>", "application/octet-stream", True),
    ],
)
async def test_it_serves_media_by_its_allow_listed_type_never_as_a_page(
    media_app, services, name, content, content_type, download
):
    """A file a learner sent must not run as a page on the admin's origin: nosniff, a CSP that allows nothing,
    and a download (attachment) for anything that is not an image, audio or video."""
    (services.settings.data_dir / name).parent.mkdir(parents=True, exist_ok=True)
    (services.settings.data_dir / name).write_bytes(content)
    _, response = await media_app.asgi_client.get(await _url(services, name, hours=1))
    assert response.status == 200 and response.body == content
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "sandbox" in response.headers["content-security-policy"]
    disposition = response.headers.get("content-disposition", "")
    assert disposition.startswith("attachment") if download else disposition == ""
