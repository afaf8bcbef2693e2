"""The simulator endpoint and the terminal chat: same service, same store, replies from the outbox."""

import io

import pytest

from coachbox.cli.chat import run_chat
from coachbox.content.importer import import_folder


@pytest.fixture
def vouched(app):
    # The ASGI test client has no socket address ("mockserver"): vouch for it the way an admin session would.
    app.ctx.simulator_allows = lambda request: True
    return app


@pytest.mark.anyio
async def test_it_refuses_callers_that_are_not_local(app):
    _, response = await app.asgi_client.post(
        "/api/v1/simulator/messages", json={"phone": "+254712345678", "text": "hi"}
    )
    assert response.status == 403


@pytest.mark.anyio
async def test_it_answers_the_simulator_endpoint(vouched, conn, settings):
    app = vouched
    import_folder(conn, settings.content_dir, settings, progress=None)
    _, response = await app.asgi_client.post(
        "/api/v1/simulator/messages", json={"phone": "+254712345678", "text": "hi", "name": "Amina"}
    )
    assert response.status == 200
    replies = response.json["replies"]
    assert "Welcome" in replies[0]["body"] and replies[0]["kind"] == "reply"
    status = conn.execute("SELECT status FROM messages WHERE id = ?", (replies[0]["id"],)).fetchone()[0]
    assert status in ("sent", "delivered")


@pytest.mark.anyio
async def test_it_rejects_bad_simulator_input(vouched):
    app = vouched
    _, response = await app.asgi_client.post("/api/v1/simulator/messages", json={"phone": "0712", "text": "hi"})
    assert response.status == 400


@pytest.mark.anyio
async def test_it_hides_the_simulator_when_twilio_is_configured(settings, services):
    from coachbox.roots.app import create_app

    twilio = settings.replace(twilio={"account_sid": "AC123", "auth_token": "secret"})
    services.settings = twilio
    app = create_app(twilio, services)
    _, response = await app.asgi_client.post(
        "/api/v1/simulator/messages", json={"phone": "+254712345678", "text": "hi"}
    )
    assert response.status == 404


def test_it_chats_in_the_terminal_from_a_script(conn, settings, clock):
    import_folder(conn, settings.content_dir, settings, progress=None)
    out = io.StringIO()
    code = run_chat(
        settings,
        phone="+254712345678",
        language="sw",
        profile_name="Juma",
        stdin=io.StringIO("habari\nndiyo\n"),
        stdout=out,
        clock=clock,
        periodic=False,
    )
    text = out.getvalue()
    assert code == 0
    assert "> habari\n🤖 👋 Karibu" in text and "Nimefurahi kukufahamu, Juma!" in text
    rows = conn.execute("SELECT direction, channel FROM messages ORDER BY id").fetchall()
    assert [tuple(r) for r in rows][:2] == [("in", "simulator"), ("out", "simulator")]
