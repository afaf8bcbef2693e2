"""Meta webhook payloads → Inbound and statuses, in the shapes Meta sends (after nyaruka/courier's recorded
payloads, handlers/meta/testdata/wac/*.json), and the signature and challenge checks."""

from __future__ import annotations

from datetime import UTC, datetime

from coachbox.channels.meta.webhook import challenge, parse_payload, sign, signature_ok
from tests.doubles.meta_fixtures import (
    ALICE,
    ALICE_WA,
    button_reply,
    change,
    contact,
    envelope,
    list_reply,
    message,
    status,
    text,
)

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _one(msg: dict, contacts: list | None = None):
    batch = parse_payload(envelope(change([msg], contacts=contacts)), NOW)
    assert len(batch.inbound) == 1, batch.skipped
    return batch.inbound[0]


def test_a_text_carries_the_number_the_profile_name_and_the_wamid():
    inbound = _one(text("Hello World", id="wamid.ABC"))
    assert (inbound.channel, inbound.address, inbound.phone, inbound.wa_id) == (
        "whatsapp",
        ALICE,
        "+254700000001",
        ALICE_WA,
    )
    assert (inbound.body, inbound.provider_sid, inbound.profile_name) == ("Hello World", "wamid.ABC", "Amina Wanjiru")


def test_button_and_list_replies_and_template_buttons_are_the_learners_answer():
    tapped = _one(button_reply("TRUE", "TRUE"))
    assert (tapped.button_payload, tapped.body) == ("TRUE", "TRUE")
    listed = _one(list_reply("2", "Kiswahili"))
    assert (listed.button_payload, listed.body) == ("2", "Kiswahili")
    template_button = _one(message("button", button={"payload": "QUIZ", "text": "Start the quiz"}))
    assert (template_button.button_payload, template_button.body) == ("QUIZ", "Start the quiz")


def test_media_carry_their_media_id_type_and_caption():
    voice = _one(message("audio", audio={"id": "4490709327", "mime_type": "audio/ogg; codecs=opus", "voice": True}))
    assert voice.media[0].url == "meta-media:4490709327" and voice.media[0].content_type == "audio/ogg"
    photo = _one(message("image", image={"id": "55", "mime_type": "image/jpeg", "caption": "my homework"}))
    assert photo.body == "my homework" and photo.attachments == 1


def test_locations_contacts_and_unknown_types_are_read_as_nothing_to_read_never_an_error():
    for kind, fields in (
        ("location", {"location": {"latitude": -1.28, "longitude": 36.8, "name": "Nairobi Hospital"}}),
        ("contacts", {"contacts": [{"name": {"formatted_name": "Bob"}}]}),
        ("unsupported", {"errors": [{"code": 131051, "title": "Message type unknown"}]}),
        ("hologram", {}),
    ):
        inbound = _one(message(kind, **fields))
        assert inbound.body == "" and inbound.attachments == 1 and inbound.kind == kind


def test_reactions_are_skipped():
    batch = parse_payload(
        envelope(change([message("reaction", reaction={"message_id": "wamid.X", "emoji": "👍"})])), NOW
    )
    assert batch.inbound == [] and batch.skipped == ["reaction"]


def test_business_scoped_user_ids_key_a_learner_without_a_number():
    # hello_user_id.json: both; hello_user_id_only.json: no wa_id, no from.
    both = _one(text("hi", user_id="US.1234"), contacts=[contact(ALICE_WA, user_id="US.1234")])
    assert (both.address, both.wa_user_id) == (ALICE, "US.1234")
    only = _one(text("hi", sender=None, user_id="US.1349"), contacts=[contact(None, user_id="US.1349")])
    assert (only.address, only.phone, only.wa_id, only.wa_user_id) == ("whatsapp:US.1349", None, None, "US.1349")
    assert only.profile_name == "Amina Wanjiru"
    in_from = _one(text("hi", sender="US.777"), contacts=[contact(None, user_id="US.777")])  # BSUID in "from"
    assert in_from.address == "whatsapp:US.777"


def test_several_entries_changes_messages_and_statuses_in_one_post():
    payload = envelope(
        change([text("one"), text("two")]),
        change(statuses=[status("wamid.S1", "delivered", tag="7"), status("wamid.S2", "failed", error=131026)]),
        change([text("bob", sender="254700000002")], contacts=[contact("254700000002", "Bob")]),
        entries=3,
    )
    batch = parse_payload(payload, NOW)
    assert [i.body for i in batch.inbound] == ["one", "two", "bob"]
    assert [i.profile_name for i in batch.inbound] == ["Amina Wanjiru", "Amina Wanjiru", "Bob"]
    first, failed = batch.statuses
    assert (first.wamid, first.status, first.message_id, first.error_code) == ("wamid.S1", "delivered", 7, None)
    assert (failed.status, failed.error_code, failed.pricing_category, failed.pricing_billable) == (
        "failed",
        "131026",
        "utility",
        True,
    )


def test_strange_shapes_are_skipped_not_raised():
    for data in (None, [], {"entry": None}, {"entry": [{"changes": [{"value": {"messages": [{"type": "text"}]}}]}]}):
        batch = parse_payload(data, NOW)
        assert batch.inbound == [] and batch.statuses == []


def test_the_signature_is_an_hmac_of_the_raw_body():
    body = b'{"object":"whatsapp_business_account"}'
    assert signature_ok("secret", body, sign("secret", body))
    assert not signature_ok("secret", body + b" ", sign("secret", body))
    assert not signature_ok("other", body, sign("secret", body))
    assert not signature_ok("", body, sign("", body))  # no app secret configured: nothing is trusted
    assert not signature_ok("secret", body, None)


def test_the_challenge_needs_subscribe_and_the_token():
    good = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "42"}
    assert challenge("tok", good) == "42"
    assert challenge("tok", {**good, "hub.verify_token": "no"}) is None
    assert challenge("tok", {**good, "hub.mode": "unsubscribe"}) is None
    assert challenge("", {**good, "hub.verify_token": ""}) is None
