"""TwilioChannel and `coachbox check` against the double: base URL rewriting, error mapping, credentials."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from coachbox.channels.base import ChannelError, Outbound
from coachbox.channels.twilio import errors
from coachbox.channels.twilio.transport import TwilioChannel
from coachbox.channels.twilio.urls import rewrite_url
from coachbox.ops.checks import check_twilio_credentials as check_credentials
from tests.doubles.twilio_fixtures import ALICE, twilio_double, twilio_settings, twilio_settings_for  # noqa: F401


def test_it_rewrites_every_twilio_domain_to_the_configured_base():
    base = "http://127.0.0.1:9999"
    assert (
        rewrite_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", base)
        == base + "/2010-04-01/Accounts/AC1/Messages.json"
    )
    assert rewrite_url("https://content.twilio.com/v1/Content", base) == base + "/v1/Content"
    assert (
        rewrite_url("https://content.twilio.com/v1/Content", "https://api.twilio.com")
        == "https://content.twilio.com/v1/Content"
    )
    assert rewrite_url("https://example.twilio.com.evil.org/x", base) == "https://example.twilio.com.evil.org/x"


@pytest.mark.anyio
async def test_it_reaches_the_content_api_through_the_base_url(twilio_settings, twilio_double):
    channel = TwilioChannel(twilio_settings)
    client = channel._get_client()
    assert await client.content.v1.contents.list_async() == []
    await channel.close()
    assert ("GET", "/v1/Content") in twilio_double.state.requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    "status,code,permanent,expected_code",
    [
        (429, 20429, False, "20429"),
        (500, None, False, "500"),
        (503, None, False, "503"),
        (400, 21211, True, "21211"),
        (400, 63016, True, "63016"),
        (400, 21408, True, "21408"),
        (401, 20003, False, "20003"),
    ],
)
async def test_it_maps_twilio_errors(twilio_settings, twilio_double, status, code, permanent, expected_code):
    channel = TwilioChannel(twilio_settings)
    twilio_double.fail_next(1, status=status, code=code, retry_after=7 if status == 429 else None)
    with pytest.raises(ChannelError) as info:
        await channel.send(Outbound(message_id=1, address=ALICE, body="hi"))
    await channel.close()
    assert info.value.permanent is permanent and info.value.code == expected_code
    if status == 429:
        assert info.value.retry_after == 7


@pytest.mark.anyio
async def test_it_reports_an_unreachable_twilio_as_a_network_error(settings):
    channel = TwilioChannel(twilio_settings_for(settings, "http://127.0.0.1:9"))
    with pytest.raises(ChannelError) as info:
        await channel.send(Outbound(message_id=1, address=ALICE, body="hi"))
    await channel.close()
    assert info.value.code == "network" and not info.value.permanent


def test_it_explains_every_listed_permanent_code():
    for code in ["21211", "21408", "21610", "21614", "63016", "63003", "63024", "63032"]:
        assert errors.is_permanent(code) and len(errors.describe(code)) > 20


def test_it_checks_credentials(settings, twilio_settings, twilio_double):
    assert check_credentials(twilio_settings).level == "ok"
    bad = check_credentials(twilio_settings.replace(twilio={"auth_token": "wrong"}))
    assert bad.level == "error" and "COACHBOX_TWILIO_AUTH_TOKEN" in bad.fix
    down = check_credentials(twilio_settings_for(settings, "http://127.0.0.1:9"))
    assert down.level == "error" and "api_base_url" in down.fix


@pytest.mark.anyio
async def test_a_send_reaches_twilio_as_the_form_twilio_python_and_aiohttp_would_send(twilio_settings, twilio_double):
    """The transport encodes the form itself (issue #15: aiohttp's FormData was a fifth of a send): the same body and
    Content-Type on the wire, lists (media) and any text included."""
    import aiohttp

    channel = TwilioChannel(twilio_settings)
    body = "Habari? 100% sawa & more ✓ +1 = 2"
    media = ("https://coach.example.org/media/a b.jpg", "https://coach.example.org/media/c.png?x=1&y=2")
    await channel.send(Outbound(message_id=7, address=ALICE, body=body, media_urls=media))
    await channel.close()
    accepted = twilio_double.state.accepted[-1]
    assert accepted.params["Body"] == [body]
    assert accepted.params["MediaUrl"] == list(media)
    assert twilio_double.state.content_types[-1] == "application/x-www-form-urlencoded"
    form = {"Body": body, "MediaUrl": list(media)}
    assert aiohttp.FormData(form)()._value == urlencode(list(form.items()), doseq=True).encode()
