"""POST /webhooks/twilio and /webhooks/twilio/status: signatures, de-dup, replies, status order, opt-out, media."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest

from coachbox.roots.app import create_app
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    PUBLIC_URL,
    enqueue,
    inbound_form,
    row,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings,
    twilio_signature,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def tapp(twilio_settings, tservices):
    return create_app(twilio_settings, tservices)


def _count(conn, where: str = "1") -> int:
    return conn.execute(f"SELECT COUNT(*) FROM messages WHERE {where}").fetchone()[0]


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_it_accepts_a_signed_message_and_replies_through_the_outbox(tapp, conn, twilio_double):
    body, headers = signed_request("/webhooks/twilio", inbound_form(body="hello", Unknown_New_Field="x"))
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    assert _count(conn, "direction = 'in'") == 1
    await _wait_for(lambda: len(twilio_double.accepted) == 1)  # the sender was kicked: no poll wait
    assert twilio_double.accepted[0].get("Body") == "echo: hello"


async def test_it_accepts_blank_fields_as_twilio_signs_them(tapp, conn):
    body, headers = signed_request("/webhooks/twilio", inbound_form(body="", ProfileName=""))
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl"])
async def test_it_rejects_a_missing_or_bad_signature_and_stores_nothing(tapp, conn, signature, caplog):
    form = inbound_form()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    with caplog.at_level("WARNING", logger="coachbox.web.webhooks"):
        _, response = await tapp.asgi_client.post("/webhooks/twilio", content=urlencode(form), headers=headers)
    assert response.status == 403
    assert _count(conn) == 0
    assert any("signature rejected" in r.getMessage() for r in caplog.records)


async def test_it_rejects_a_signature_made_for_another_url(tapp, conn):
    form = inbound_form()
    body, headers = signed_request("/webhooks/twilio", form, base="https://evil.example.org")
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 403 and _count(conn) == 0


async def test_it_rejects_a_tampered_body(tapp, conn):
    body, headers = signed_request("/webhooks/twilio", inbound_form(body="hello"))
    _, response = await tapp.asgi_client.post(
        "/webhooks/twilio", content=body.replace(b"hello", b"HELLO"), headers=headers
    )
    assert response.status == 403 and _count(conn) == 0


async def test_it_checks_the_signature_against_public_url_never_forwarded_headers(twilio_settings, tservices, conn):
    form = inbound_form()
    forged_body, forged = signed_request("/webhooks/twilio", form, base="https://attacker.example.net")
    forged.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "attacker.example.net"})
    behind_proxy = twilio_settings.replace(server={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    for number, (name, settings) in enumerate((("plain", twilio_settings), ("behind_proxy", behind_proxy))):
        app = create_app(settings, tservices, name=name)
        before = _count(conn)
        _, response = await app.asgi_client.post("/webhooks/twilio", content=forged_body, headers=forged)
        assert response.status == 403, name
        assert _count(conn) == before  # nothing stored for the forged one
        # Signed for [server] public_url: accepted whatever X-Forwarded-Host claims.
        body, headers = signed_request("/webhooks/twilio", inbound_form(sid=f"SM{number + 1:032d}"))
        headers.update({"X-Forwarded-Proto": "http", "X-Forwarded-Host": "attacker.example.net"})
        _, response = await app.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
        assert response.status == 200, name


async def test_it_checks_the_query_string_too(tapp, conn):
    form = inbound_form()
    body, headers = signed_request("/webhooks/twilio", form, query="source=whatsapp")
    _, ok = await tapp.asgi_client.post("/webhooks/twilio?source=whatsapp", content=body, headers=headers)
    _, bad = await tapp.asgi_client.post("/webhooks/twilio?source=sms", content=body, headers=headers)
    assert ok.status == 200 and bad.status == 403


async def test_it_answers_400_to_a_form_without_a_message_sid(tapp, conn):
    form = {"From": ALICE, "Body": "hi"}
    body, headers = signed_request("/webhooks/twilio", form)
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 400 and _count(conn) == 0


async def test_it_processes_a_replayed_message_sid_once(tapp, conn, twilio_double):
    body, headers = signed_request("/webhooks/twilio", inbound_form(sid="SM" + "7" * 32, body="quiz A"))

    async def post():
        _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
        return response.status

    statuses = [await post()]  # Twilio's first try, then up to 4 retries: two in a row, two at the same time
    statuses.append(await post())
    statuses += await asyncio.gather(post(), post(), post())
    assert statuses == [200] * 5
    assert _count(conn, "direction = 'in'") == 1 and _count(conn, "direction = 'out'") == 1
    await _wait_for(lambda: len(twilio_double.accepted) >= 1)
    await asyncio.sleep(0.2)
    assert len(twilio_double.accepted) == 1


async def test_it_marks_the_learner_opted_out_on_twilios_stop(tapp, conn):
    body, headers = signed_request("/webhooks/twilio", inbound_form(body="STOP", OptOutType="STOP"))
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200
    assert conn.execute("SELECT opted_out FROM learners WHERE channel_key = ?", (ALICE,)).fetchone()[0] == 1
    body, headers = signed_request(
        "/webhooks/twilio", inbound_form(sid="SM" + "8" * 32, body="START", OptOutType="START")
    )
    await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert conn.execute("SELECT opted_out FROM learners WHERE channel_key = ?", (ALICE,)).fetchone()[0] == 0


async def test_a_turn_under_way_finishes_when_the_caller_hangs_up(tapp, tservices, conn, twilio_double):
    """Sanic cancels a handler whose client disconnected; the turn, the opt-out and the sender's wake-up still
    happen (a Twilio retry of this MessageSid would only find a duplicate)."""
    from tests.doubles.twilio_fixtures import stand_in_turn

    started, release = asyncio.Event(), asyncio.Event()

    async def slow_turn(services, message):
        started.set()
        await release.wait()
        return await stand_in_turn(services, message)

    tservices.inbound_handler = slow_turn
    body, headers = signed_request("/webhooks/twilio", inbound_form(body="STOP", OptOutType="STOP"))
    post = asyncio.ensure_future(tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers))
    await started.wait()
    post.cancel()  # as Sanic does when the connection closes mid-handler
    with pytest.raises(asyncio.CancelledError):
        await post
    release.set()
    await _wait_for(
        lambda: (
            conn.execute("SELECT COUNT(*) FROM learners WHERE channel_key = ? AND opted_out = 1", (ALICE,)).fetchone()[
                0
            ]
            == 1
        )
    )
    assert _count(conn, "direction = 'in'") == 1
    await _wait_for(lambda: len(twilio_double.accepted) == 1)  # the reply (not proactive) was sent on the kick


async def _status(app, message_id: int, sid: str, status: str, **extra):
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC1",
        "To": ALICE,
        "ChannelPrefix": "whatsapp",
        **extra,
    }
    body, headers = signed_request("/webhooks/twilio/status", form, query=f"m={message_id}")
    _, response = await app.asgi_client.post(f"/webhooks/twilio/status?m={message_id}", content=body, headers=headers)
    return response


@pytest.mark.parametrize("tag", ["99999999999999999999999", "abc", "-1"])
async def test_a_status_callback_with_a_tag_that_is_not_ours_is_looked_up_by_sid(tapp, conn, clock, tag):
    """Out of SQLite's integer range once answered 500 (and failed every receipt coalesced with it)."""
    mid = enqueue(conn, ALICE, "hi", clock.now(), status="sending")
    sid = "SM" + "6" * 32
    conn.execute("UPDATE messages SET provider_sid = ? WHERE id = ?", (sid, mid))
    response = await _status(tapp, tag, sid, "delivered")
    assert response.status == 204
    assert row(conn, mid)["status"] == "delivered"


async def test_it_never_moves_a_status_backwards(tapp, conn, clock):
    mid = enqueue(conn, ALICE, "hi", clock.now(), status="sending")
    sid = "SM" + "3" * 32
    for status in ["read", "delivered", "sent", "queued"]:  # reverse order, as callbacks may arrive
        response = await _status(tapp, mid, sid, status)
        assert response.status == 204
    current = row(conn, mid)
    assert current["status"] == "read" and current["provider_sid"] == sid
    assert current["read_at"] and current["delivered_at"]


async def test_it_records_error_codes_and_opts_out_on_21610(tapp, conn, clock):
    mid = enqueue(conn, ALICE, "hi", clock.now(), status="sending")
    response = await _status(tapp, mid, "SM" + "4" * 32, "failed", ErrorCode="21610")
    assert response.status == 204
    assert row(conn, mid)["status"] == "failed" and row(conn, mid)["error_code"] == "21610"
    assert conn.execute("SELECT opted_out FROM learners WHERE channel_key = ?", (ALICE,)).fetchone()[0] == 1


async def test_media_that_trickles_in_does_not_hold_the_webhook_past_its_deadline(
    tapp, conn, twilio_double, monkeypatch
):
    """Each read may stay under its own timeout while the whole download drags on; all of a message's media
    share one deadline (8 s in production, well inside Twilio's 15 s), fetched at once, and what is late keeps
    its URL only. Nothing partial is left behind."""
    from coachbox.channels.twilio import media as twilio_media

    monkeypatch.setattr(twilio_media, "DOWNLOAD_DEADLINE_SECONDS", 0.5)
    sid = "MM" + "6" * 32
    fast = [twilio_double.add_media(sid, f"ME{n:032d}", b"\xff\xd8jpeg", "image/jpeg") for n in range(3)]
    slow = twilio_double.add_media(sid, "ME" + "9" * 32, b"x" * 1000, "audio/ogg", trickle=0.3)  # ~3 s in all
    form = inbound_form(
        sid=sid,
        body="",
        NumMedia="4",
        MediaUrl0=fast[0],
        MediaContentType0="image/jpeg",
        MediaUrl1=slow,
        MediaContentType1="audio/ogg",
        MediaUrl2=fast[1],
        MediaContentType2="image/jpeg",
        MediaUrl3=fast[2],
        MediaContentType3="image/jpeg",
    )
    body, headers = signed_request("/webhooks/twilio", form)
    started = asyncio.get_running_loop().time()
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200 and asyncio.get_running_loop().time() - started < 2.0
    import json

    media = json.loads(conn.execute("SELECT media FROM messages WHERE direction = 'in'").fetchone()[0])
    assert [m["path"] is not None for m in media] == [True, False, True, True]  # in order, the late one a link
    assert media[1]["url"] == slow
    assert not list((tapp.ctx.settings.data_dir / "media/inbound").glob("*.part"))


async def test_it_rejects_unsigned_status_callbacks(tapp, conn, clock):
    mid = enqueue(conn, ALICE, "hi", clock.now(), status="sending")
    _, response = await tapp.asgi_client.post(
        f"/webhooks/twilio/status?m={mid}",
        content=urlencode({"MessageSid": "SMx", "MessageStatus": "read"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 403 and row(conn, mid)["status"] == "sending"


async def test_it_downloads_inbound_media_with_the_account_credentials(tapp, conn, twilio_double, twilio_settings):
    sid = "MM" + "5" * 32
    url = twilio_double.add_media(sid, "ME" + "1" * 32, b"\xff\xd8jpeg-bytes", "image/jpeg")
    big = twilio_double.add_media(
        sid, "ME" + "2" * 32, b"x" * (twilio_settings.twilio.media_max_bytes + 1), "audio/ogg"
    )
    form = inbound_form(
        sid=sid,
        body="",
        NumMedia="2",
        MediaUrl0=url,
        MediaContentType0="image/jpeg",
        MediaUrl1=big,
        MediaContentType1="audio/ogg",
    )
    body, headers = signed_request("/webhooks/twilio", form)
    _, response = await tapp.asgi_client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status == 200
    import json

    media = json.loads(conn.execute("SELECT media FROM messages WHERE direction = 'in'").fetchone()[0])
    assert media[0]["path"] == f"media/inbound/{sid}-0.jpg" and media[0]["content_type"] == "image/jpeg"
    assert (twilio_settings.data_dir / media[0]["path"]).read_bytes() == b"\xff\xd8jpeg-bytes"
    assert media[1]["path"] is None and media[1]["url"] == big  # over the size limit: kept as a link only
    assert not list((twilio_settings.data_dir / "media/inbound").glob("*.part"))
