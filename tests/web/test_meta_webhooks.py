"""GET/POST /webhooks/meta over the Graph API double: verification, signatures, de-dup, batches, statuses, BSUIDs."""

from __future__ import annotations

import asyncio
import json

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.roots.app import create_app
from tests.doubles.meta_double import VERIFY_TOKEN
from tests.doubles.meta_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    ALICE_WA,
    change,
    contact,
    envelope,
    message,
    meta_double,
    meta_settings,
    mservices,
    signed,
    status,
    text,
)
from tests.doubles.twilio_fixtures import stand_in_turn

pytestmark = pytest.mark.anyio

BOB_WA = "254700000002"


@pytest.fixture
def mapp(meta_settings, mservices):
    mservices.inbound_handler = stand_in_turn  # echoes "echo: <body>"
    return create_app(meta_settings, mservices)


def _count(conn, where: str = "1") -> int:
    return conn.execute(f"SELECT COUNT(*) FROM messages WHERE {where}").fetchone()[0]


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _post(app, payload: dict):
    """POST a signed payload, then send what it queued (the asgi client stops the app, and its sender, after each
    request, possibly before the sender's kick got to run)."""
    body, headers = signed(payload)
    _, response = await app.asgi_client.post("/webhooks/meta", content=body, headers=headers)
    while await deliver_due(app.ctx.services):
        pass
    return response


async def test_it_answers_the_verification_challenge_only_with_the_verify_token(mapp, caplog):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    _, response = await mapp.asgi_client.get("/webhooks/meta", params=query)
    assert response.status == 200 and response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")
    with caplog.at_level("WARNING", logger="coachbox.web.meta"):
        _, wrong = await mapp.asgi_client.get("/webhooks/meta", params={**query, "hub.verify_token": "guess"})
    assert wrong.status == 403
    assert any("verification refused" in r.getMessage() for r in caplog.records)


async def test_it_replies_to_a_signed_text_through_the_cloud_api(mapp, conn, meta_double):
    response = await _post(mapp, envelope(change([text("hello")])))
    assert response.status == 200
    assert _count(conn, "direction = 'in'") == 1
    await _wait_for(lambda: len(meta_double.sent) == 1)
    sent = meta_double.sent[0]
    assert sent.to == ALICE_WA and sent.payload["text"] == {"body": "echo: hello", "preview_url": False}
    path, headers = meta_double.requests[-1][1], meta_double.requests[-1][2]
    assert path == "/v23.0/106540352242922/messages" and headers["Authorization"].startswith("Bearer EAA")
    await _wait_for(lambda: _count(conn, f"direction = 'out' AND provider_sid = '{sent.wamid}'") == 1)


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc"])
async def test_it_rejects_a_missing_or_bad_signature_and_stores_nothing(mapp, conn, signature, caplog):
    body = json.dumps(envelope(change([text("hello")]))).encode()
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-Hub-Signature-256"] = signature
    with caplog.at_level("WARNING", logger="coachbox.web.meta"):
        _, response = await mapp.asgi_client.post("/webhooks/meta", content=body, headers=headers)
    assert response.status == 403
    assert _count(conn) == 0
    assert any("signature rejected" in r.getMessage() for r in caplog.records)


async def test_it_rejects_a_tampered_body(mapp, conn):
    body, headers = signed(envelope(change([text("hello")])))
    _, response = await mapp.asgi_client.post(
        "/webhooks/meta", content=body.replace(b"hello", b"HELLO"), headers=headers
    )
    assert response.status == 403 and _count(conn) == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"entry": "nope"}', b'{"entry": [{"changes": [{}]}]}'])
async def test_it_answers_200_to_any_signed_body_it_cannot_read(mapp, conn, body):
    from coachbox.channels.meta.webhook import sign
    from tests.doubles.meta_double import APP_SECRET

    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
    _, response = await mapp.asgi_client.post("/webhooks/meta", content=body, headers=headers)
    assert response.status == 200 and _count(conn) == 0


async def test_a_redelivered_message_is_handled_once(mapp, conn, meta_double):
    payload = envelope(change([text("hello", id="wamid.SAME")]))
    assert (await _post(mapp, payload)).status == 200
    assert (await _post(mapp, payload)).status == 200
    assert _count(conn, "direction = 'in'") == 1
    await _wait_for(lambda: len(meta_double.sent) == 1)
    await asyncio.sleep(0.1)
    assert len(meta_double.sent) == 1


async def test_several_messages_and_learners_in_one_post_are_each_handled_once(mapp, conn, meta_double):
    payload = envelope(
        change([text("one"), text("two")]),
        change([text("from bob", sender=BOB_WA)], contacts=[contact(BOB_WA, "Bob")]),
        entries=2,
    )
    assert len(payload["entry"]) == 2
    assert (await _post(mapp, payload)).status == 200
    rows = conn.execute("SELECT address, body FROM messages WHERE direction = 'in' ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(ALICE, "one"), (ALICE, "two"), ("whatsapp:+254700000002", "from bob")]
    await _wait_for(lambda: len(meta_double.sent) == 3)
    assert sorted(s.text for s in meta_double.sent) == ["echo: from bob", "echo: one", "echo: two"]


async def test_statuses_move_forward_only_and_keep_pricing(mapp, conn, meta_double):
    await _post(mapp, envelope(change([text("hello")])))
    await _wait_for(lambda: _count(conn, "direction = 'out' AND provider_sid IS NOT NULL") == 1)
    out = conn.execute("SELECT id, provider_sid FROM messages WHERE direction = 'out'").fetchone()
    sid, tag = out["provider_sid"], str(out["id"])
    # read arrives before delivered and sent (Meta does not promise order): the row stays "read".
    await _post(mapp, envelope(change(statuses=[status(sid, "read", tag=tag)])))
    await _post(mapp, envelope(change(statuses=[status(sid, "delivered", tag=tag), status(sid, "sent", tag=tag)])))
    row = conn.execute("SELECT * FROM messages WHERE id = ?", (out["id"],)).fetchone()
    assert row["status"] == "read" and row["read_at"] and row["delivered_at"]
    assert (row["pricing_category"], row["pricing_billable"], row["pricing_model"], row["pricing_type"]) == (
        "utility",
        1,
        "PMP",
        "regular",
    )
    assert row["conversation_type"] == "utility"


async def test_a_failed_status_keeps_its_error_and_meaning(mapp, conn, meta_double):
    await _post(mapp, envelope(change([text("hello")])))
    await _wait_for(lambda: _count(conn, "direction = 'out' AND provider_sid IS NOT NULL") == 1)
    out = conn.execute("SELECT id, provider_sid FROM messages WHERE direction = 'out'").fetchone()
    await _post(mapp, envelope(change(statuses=[status(out["provider_sid"], "failed", error=131026)])))
    row = conn.execute("SELECT status, error_code, error_message FROM messages WHERE id = ?", (out["id"],)).fetchone()
    assert (row["status"], row["error_code"]) == ("failed", "131026")
    assert "could not deliver" in row["error_message"]


async def test_a_learner_known_only_by_business_scoped_id_is_recognised_either_way(mapp, conn, meta_double):
    # First by number and BSUID together, then by BSUID alone (the learner took a WhatsApp username).
    with_both = change([text("hi", user_id="US.1234")], contacts=[contact(ALICE_WA, user_id="US.1234")])
    await _post(mapp, envelope(with_both))
    only_id = change([text("again", sender=None, user_id="US.1234")], contacts=[contact(None, user_id="US.1234")])
    await _post(mapp, envelope(only_id))
    learners = conn.execute("SELECT id, channel_key, wa_user_id FROM learners").fetchall()
    assert [(r["channel_key"], r["wa_user_id"]) for r in learners] == [(ALICE, "US.1234")]
    assert _count(conn, f"direction = 'in' AND learner_id = {learners[0]['id']}") == 2
    # A new learner with no number at all is keyed by the id, and answered through it.
    stranger = change([text("hello", sender=None, user_id="US.9999")], contacts=[contact(None, user_id="US.9999")])
    await _post(mapp, envelope(stranger))
    assert conn.execute("SELECT 1 FROM learners WHERE channel_key = 'whatsapp:US.9999'").fetchone()
    await _wait_for(lambda: any(s.payload.get("recipient") == "US.9999" for s in meta_double.sent))


async def test_inbound_media_is_fetched_with_the_token_and_stored_like_twilio_media(
    mapp, conn, meta_double, meta_settings
):
    meta_double.add_media("4490709327", b"OggS voice bytes", "audio/ogg")
    meta_double.add_media("666", b"<html>", "text/html")
    voice = message("audio", audio={"id": "4490709327", "mime_type": "audio/ogg; codecs=opus", "voice": True})
    page = message("document", document={"id": "666", "mime_type": "text/html", "filename": "x.html"})
    await _post(mapp, envelope(change([voice, page])))
    media = [json.loads(r[0]) for r in conn.execute("SELECT media FROM messages WHERE direction = 'in' ORDER BY id")]
    assert media[0][0]["path"].endswith(".ogg") and media[0][0]["content_type"] == "audio/ogg"
    assert (meta_settings.data_dir / media[0][0]["path"]).read_bytes() == b"OggS voice bytes"
    assert media[1][0]["path"].endswith(".bin")  # not on the safe-type allow-list: never served as HTML
    fetched = [
        (path, headers.get("Authorization")) for _, path, headers in meta_double.requests if "4490709327" in path
    ]
    assert fetched == [
        ("/v23.0/4490709327", "Bearer EAAdouble-access-token-0123456789"),
        ("/media-bytes/4490709327", "Bearer EAAdouble-access-token-0123456789"),
    ]


async def test_media_over_the_size_limit_is_not_downloaded(mapp, conn, meta_double, mservices, meta_settings):
    mservices.settings = meta_settings.replace(meta={**_meta_values(meta_settings), "media_max_bytes": 10})
    meta_double.add_media("77", b"x" * 11, "image/jpeg")
    await _post(mapp, envelope(change([message("image", image={"id": "77", "mime_type": "image/jpeg"})])))
    media = json.loads(conn.execute("SELECT media FROM messages WHERE direction = 'in'").fetchone()[0])
    assert media[0]["path"] is None and media[0]["url"] == "meta-media:77"


def _meta_values(settings) -> dict:
    import dataclasses

    return dataclasses.asdict(settings.meta)


async def test_a_failed_turn_is_redelivered_not_lost_and_a_poison_message_is_let_go(mapp, conn, mservices, caplog):
    """A turn that raises rolled back: 503 so Meta delivers the POST again (the rest de-duplicated by wamid); after
    MAX_REDELIVERIES failures of one wamid it is acknowledged, so Meta does not disable the webhook."""
    from coachbox.web.meta_webhooks import MAX_REDELIVERIES

    failures = {"wamid.FLAKY": 1, "wamid.POISON": 10**6}

    async def flaky(services, inbound):
        if failures.get(inbound.provider_sid, 0) > 0:
            failures[inbound.provider_sid] -= 1
            raise RuntimeError("a bug this message triggers")
        return await stand_in_turn(services, inbound)

    mservices.inbound_handler = flaky
    payload = envelope(change([text("fine", id="wamid.FINE"), text("flaky", id="wamid.FLAKY")]))
    assert (await _post(mapp, payload)).status == 503
    assert (await _post(mapp, payload)).status == 200  # Meta's redelivery: FINE once, FLAKY now handled
    bodies = [r[0] for r in conn.execute("SELECT body FROM messages WHERE direction = 'in' ORDER BY id")]
    assert bodies == ["fine", "flaky"]

    poison = envelope(change([text("poison", id="wamid.POISON")]))
    statuses = [(await _post(mapp, poison)).status for _ in range(MAX_REDELIVERIES)]
    assert statuses == [503] * (MAX_REDELIVERIES - 1) + [200]
    assert "keeps failing" in caplog.text
