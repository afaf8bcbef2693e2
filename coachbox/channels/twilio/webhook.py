"""Inbound Twilio webhooks: the URL Twilio signed, signature check, and form → Inbound (numbers in E.164)."""

from __future__ import annotations

import base64
import functools
import hmac
import re
from datetime import datetime
from urllib.parse import unquote_plus, urlparse, urlsplit

import phonenumbers
from twilio.request_validator import add_port, remove_port

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.core import constant_time
from coachbox.core.config import Settings

MAX_MEDIA = 10  # WhatsApp and MMS carry at most 10 media per message


class BadInbound(ValueError):
    """A webhook body that is not a Twilio message (answered 400)."""


class FormData(dict):
    """Form fields as {name: [values]}, keeping blank values: Twilio signs 'Body=' too."""

    @classmethod
    def parse(cls, body: bytes) -> FormData:
        """parse_qsl(keep_blank_values=True), fields grouped by name. Most of a status callback's fields carry no
        escape at all (SIDs, a status word): those are taken as they are, and only the others are unquoted, as
        parse_qsl would (issue #15: 24 -> ~10 µs a callback; tests/channels compare the two on any input)."""
        form = cls()
        for pair in body.decode("utf-8", errors="replace").split("&"):
            if not pair:
                continue
            name, _, value = pair.partition("=")
            if "%" in pair or "+" in pair:
                name, value = unquote_plus(name), unquote_plus(value)
            form.setdefault(name, []).append(value)
        return form

    def getlist(self, name: str) -> list[str]:  # what RequestValidator.get_values looks for
        return self.get(name, [])

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.get(name)
        return values[0] if values else default


def signed_url(settings: Settings, path: str, query_string: str) -> str:
    """The URL Twilio requested: [server] public_url + path + query. Never the request's Host or X-Forwarded-*
    headers: whoever sends the request chooses those, and the signature would then be checked against their URL."""
    public = urlsplit(settings.server.public_url)
    url = f"{public.scheme}://{public.netloc}{public.path.rstrip('/')}{path}"
    return f"{url}?{query_string}" if query_string else url


def signature_ok(auth_token: str, url: str, form: FormData, signature: str | None) -> bool:
    """https://www.twilio.com/docs/usage/webhooks/webhooks-security (HMAC-SHA1 of URL + sorted fields).

    Accepts what twilio-python's RequestValidator.validate accepts (the URL with or without its port: Twilio is
    inconsistent), but RequestValidator always computes both HMACs; we try the URL as we know it first and stop at
    a match.
    """
    if not signature or not auth_token:
        return False
    token = auth_token.encode()
    if constant_time.equal(signature_of(token, url, form), signature):
        return True
    # Only now the port variants: parsing and rebuilding the URL twice was ~8 % of an acknowledgement's CPU when
    # done up front for every webhook (issue #15).
    parsed = urlparse(url)
    for candidate in dict.fromkeys((remove_port(parsed), add_port(parsed))):
        if candidate != url and constant_time.equal(signature_of(token, candidate, form), signature):
            return True
    return False


def signature_of(token: bytes, url: str, form: FormData) -> str:
    """RequestValidator.compute_signature(url, form), the same bytes: the URL, then each field's name and value
    sorted by name, then value (each distinct pair once), HMAC-SHA1 in base64. Ours because every webhook pays for
    it: twilio-python's looks up each field through two caught AttributeErrors, re-initialises an HMAC object and
    compares in a Python loop (~24 µs a status callback against ~9 here, a fifth of what coachbox adds to a bare
    Sanic request). tests/channels/test_webhook_parsing.py checks both give the same on any form."""
    signed = url + "".join([name + value for name in sorted(form) for value in sorted(set(form[name]))])
    return base64.b64encode(hmac.digest(token, signed.encode(), "sha1")).decode()


# Cached per process: every turn asks again for the same few numbers, and phonenumbers parsing is ~50 µs.
@functools.lru_cache(maxsize=8192)
def e164(raw: str | None) -> str | None:
    """'+254 700 000001' / '254700000001' → '+254700000001'; None when it is not a phone number."""
    if not raw:
        return None
    candidate = raw.strip()
    if not candidate.startswith("+"):
        if not candidate.isdigit():
            return None
        candidate = "+" + candidate  # WaId: the number without '+'
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A WhatsApp From that Twilio sends is the sender's WhatsApp number, already in E.164: '+', a country code (no leading
# zero), 8-15 digits in all. Taken as it is, it needs no phonenumbers parse, which the cache above saves only while
# a box has fewer than 8,192 learners writing (issue #15: ~5 % of an acknowledgement's CPU at 20,000). Anything
# else (spaces, a missing '+', a business-scoped id) goes through e164() as before.
_WHATSAPP_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def channel_key(sender: str, wa_id: str | None) -> tuple[str, str, str | None]:
    """(channel, learner channel key, E.164 phone) for a From field."""
    prefix, sep, rest = sender.partition(":")
    if not sep:
        phone = e164(sender)
        return "sms", f"sms:{phone or sender}", phone
    if prefix == "whatsapp":
        phone = rest if _WHATSAPP_E164.fullmatch(rest) else e164(rest) or e164(wa_id)
        # A business-scoped user id (whatsapp:KE.abc…) carries no number: the id itself is the key.
        return "whatsapp", f"whatsapp:{phone}" if phone else sender, phone
    return prefix, sender, e164(rest)


# Twilio's Advanced Opt-Out names the keyword it matched (its own list, which the Messaging Service may extend with
# words of any language) in OptOutType; HELP is answered by Twilio and needs nothing from us.
OPT_OUT_TYPES = {"STOP": "stop", "START": "start"}


def parse_inbound(form: FormData, now: datetime) -> Inbound:
    """Twilio's form fields → Inbound. Unknown fields are ignored: Twilio adds new ones at any time."""
    sid = form.first("MessageSid") or form.first("SmsMessageSid")
    sender = form.first("From")
    if not sid or not sender:
        raise BadInbound("MessageSid and From are required")
    try:
        count = min(int(form.first("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise BadInbound("NumMedia must be a number") from None
    media = tuple(
        InboundMedia(url=url, content_type=form.first(f"MediaContentType{i}") or "application/octet-stream")
        for i in range(max(0, count))
        if (url := form.first(f"MediaUrl{i}"))
    )
    wa_id = form.first("WaId") or None
    channel, key, phone = channel_key(sender.strip(), wa_id)
    return Inbound(
        channel=channel,
        address=key,
        body=form.first("Body") or "",
        provider_sid=sid,
        received_at=now,
        phone=phone,
        wa_id=wa_id,
        profile_name=form.first("ProfileName") or None,
        button_payload=form.first("ButtonPayload") or None,
        button_text=form.first("ButtonText") or None,
        media=media,
        opt_out=OPT_OUT_TYPES.get((form.first("OptOutType") or "").strip().upper()),
    )
