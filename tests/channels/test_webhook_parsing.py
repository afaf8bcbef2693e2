"""Parsing Twilio's inbound form: channel keys, E.164 numbers, business-scoped ids, media, unknown fields."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st

from coachbox.channels.twilio.webhook import BadInbound, FormData, channel_key, e164, parse_inbound, signed_url
from tests.doubles.twilio_fixtures import inbound_form


def _form(**fields) -> FormData:
    return FormData({k: [v] for k, v in fields.items()})


def test_it_normalises_numbers_to_e164():
    assert e164("+254 700 000001") == "+254700000001"
    assert e164("254700000001") == "+254700000001"
    assert e164("KE.abc123") is None and e164("") is None and e164("+1") is None


def test_it_builds_channel_keys_for_whatsapp_sms_and_business_scoped_ids():
    assert channel_key("whatsapp:+254700000001", "254700000001") == (
        "whatsapp",
        "whatsapp:+254700000001",
        "+254700000001",
    )
    assert channel_key("+254700000001", None) == ("sms", "sms:+254700000001", "+254700000001")
    assert channel_key("whatsapp:KE.1a2b3c", None) == ("whatsapp", "whatsapp:KE.1a2b3c", None)
    assert channel_key("whatsapp:KE.1a2b3c", "254700000001")[1] == "whatsapp:+254700000001"


def test_it_parses_buttons_media_and_ignores_unknown_fields(clock):
    form = FormData(
        {
            k: [v]
            for k, v in inbound_form(
                ButtonPayload="quiz:1:b",
                ButtonText="B",
                NumMedia="1",
                MediaUrl0="https://api.twilio.com/x/Media/ME1",
                MediaContentType0="audio/ogg",
                SomethingTwilioAddedIn2027="yes",
            ).items()
        }
    )
    inbound = parse_inbound(form, clock.now())
    assert inbound.address == "whatsapp:+254700000001" and inbound.phone == "+254700000001"
    assert inbound.button_payload == "quiz:1:b" and inbound.button_text == "B"
    assert inbound.media[0].content_type == "audio/ogg" and inbound.profile_name == "Alice"


@pytest.mark.parametrize(
    "fields",
    [
        {"From": "whatsapp:+254700000001"},
        {"MessageSid": "SM1"},
        {"MessageSid": "SM1", "From": "+254700000001", "NumMedia": "two"},
    ],
)
def test_it_rejects_forms_that_are_not_messages(fields, clock):
    with pytest.raises(BadInbound):
        parse_inbound(_form(**fields), clock.now())


def test_it_keeps_blank_fields_for_the_signature():
    form = FormData.parse(b"Body=&From=whatsapp%3A%2B1&Body=x")
    assert form.getlist("Body") == ["", "x"]


def test_it_signs_against_the_public_url_with_its_path_prefix(settings):
    s = settings.replace(server={"public_url": "https://example.org/coach/"})
    assert signed_url(s, "/webhooks/twilio", "a=1") == "https://example.org/coach/webhooks/twilio?a=1"
    assert signed_url(s, "/webhooks/twilio", "") == "https://example.org/coach/webhooks/twilio"


def test_it_accepts_a_signature_made_with_or_without_the_port():
    from coachbox.channels.twilio.webhook import signature_ok
    from tests.doubles.twilio_double import AUTH_TOKEN
    from tests.doubles.twilio_fixtures import twilio_signature

    form = {"MessageSid": "SM1", "Body": "hi"}
    parsed = FormData({name: [value] for name, value in form.items()})
    for signed_for in ("https://coach.example.org/webhooks/twilio", "https://coach.example.org:443/webhooks/twilio"):
        signature = twilio_signature(signed_for, form)
        assert signature_ok(AUTH_TOKEN, "https://coach.example.org/webhooks/twilio", parsed, signature)
    assert not signature_ok(
        AUTH_TOKEN,
        "https://coach.example.org/webhooks/twilio",
        parsed,
        twilio_signature("https://evil.example.org/webhooks/twilio", form),
    )


def test_a_whatsapp_number_in_e164_is_taken_without_parsing_it_and_others_are_parsed_as_before():
    before = e164.cache_info()
    assert channel_key("whatsapp:+254799123456", None) == ("whatsapp", "whatsapp:+254799123456", "+254799123456")
    assert channel_key("whatsapp:+14155238886", "14155238886")[2] == "+14155238886"
    assert e164.cache_info().hits + e164.cache_info().misses == before.hits + before.misses  # no e164() at all
    # Not plainly E.164: parsed (and normalised) as before.
    assert channel_key("whatsapp:+254 799 123456", None)[2] == "+254799123456"
    assert channel_key("whatsapp:254799123457", None)[2] == "+254799123457"
    assert channel_key("whatsapp:+0254799123456", "254799123458")[2] == "+254799123458"  # no country code 0


@pytest.mark.parametrize(
    "number", ["+254712345678", "+2348031234567", "+14155238886", "+919812345678", "+447911123456", "+5511987654321"]
)
def test_the_shortcut_gives_what_phonenumbers_gives_for_real_numbers(number):
    assert channel_key(f"whatsapp:{number}", None)[2] == e164(number) == number


_FIELD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.tuples(_FIELD_TEXT, _FIELD_TEXT), max_size=12), st.booleans(), st.text(max_size=40))
def test_the_form_and_its_signature_are_what_parse_qsl_and_twilio_python_give(pairs, plus, noise):
    """FormData.parse and signature_of are our own for speed (issue #15): on any body they must give what
    urllib's parse_qsl and twilio-python's RequestValidator give."""
    from urllib.parse import parse_qsl, quote, quote_plus

    from twilio.request_validator import RequestValidator

    from coachbox.channels.twilio.webhook import signature_of

    encode = quote_plus if plus else quote
    body = "&".join(f"{encode(name)}={encode(value)}" for name, value in pairs)
    for raw in (body.encode(), f"{body}&{noise}".encode(), noise.encode()):
        expected: dict[str, list[str]] = {}
        for name, value in parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True):
            expected.setdefault(name, []).append(value)
        form = FormData.parse(raw)
        assert form == expected
        url = "https://coach.example.org/webhooks/twilio/status?m=1"
        assert signature_of(b"secret", url, form) == RequestValidator("secret").compute_signature(url, form)
