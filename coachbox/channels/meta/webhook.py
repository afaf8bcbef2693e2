"""Meta webhooks: the verification challenge, X-Hub-Signature-256, and a JSON payload → Inbound messages + statuses.

The shapes follow Meta's webhook reference and nyaruka/courier's recorded payloads
(handlers/meta/testdata/wac/*.json: hello.json, hello_user_id.json, hello_user_id_only.json, button_reply.json,
list_reply.json, valid_status.json, error_status.json …). Every field is read defensively: Meta adds fields and
types at any time, and a payload we cannot read is still answered 200 (a non-2xx is retried for days)."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers

from coachbox.channels.base import Inbound, InboundMedia
from coachbox.core import constant_time

MAX_MEDIA = 10
MEDIA_TYPES = ("image", "audio", "voice", "video", "document", "sticker")
MEDIA_URL_PREFIX = "meta-media:"  # InboundMedia.url until media.py fetched it: the Graph API media id


@functools.lru_cache(maxsize=8192)
def e164(wa_id: str | None) -> str | None:
    """Meta's wa_id ('254700000001', digits without '+') → '+254700000001'; None when it is not a number.
    (Twilio's webhook module has the same rule, but importing it loads the twilio library in a Meta box.)"""
    if not wa_id or not wa_id.lstrip("+").isdigit():
        return None
    try:
        number = phonenumbers.parse("+" + wa_id.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256 of the raw body with the app secret (constant-time)."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return constant_time.equal(expected, header.removeprefix("sha256=").strip().lower())


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header Meta sends with `body` (the bench and the tests sign with it)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def challenge(verify_token: str, args: Mapping[str, str | None]) -> str | None:
    """GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…: the challenge to echo when the
    token matches (constant-time), else None."""
    token = args.get("hub.verify_token") or ""
    if args.get("hub.mode") != "subscribe" or not verify_token:
        return None
    if not constant_time.equal(verify_token, token):
        return None
    return args.get("hub.challenge") or ""


@dataclass(frozen=True)
class MetaStatus:
    """One entry of value.statuses[]."""

    wamid: str
    status: str  # sent | delivered | read | failed (| deleted, warning: ignored)
    error_code: str | None = None
    error_title: str | None = None
    message_id: int | None = None  # our outbox id, from biz_opaque_callback_data
    pricing_category: str | None = None
    pricing_billable: bool | None = None
    pricing_model: str | None = None
    pricing_type: str | None = None
    conversation_type: str | None = None


@dataclass
class Batch:
    """What one webhook POST carried: messages to hand to the conversation, statuses, and what was skipped."""

    inbound: list[Inbound] = field(default_factory=list)
    statuses: list[MetaStatus] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # reactions, unknown shapes…: logged, never an error


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def parse_payload(data: Any, now: datetime) -> Batch:
    """entry[].changes[].value → messages and statuses, in order. Never raises on a strange shape."""
    batch = Batch()
    for entry in _list(_dict(data).get("entry")):
        for change in _list(_dict(entry).get("changes")):
            value = _dict(_dict(change).get("value"))
            contacts = _contacts(value)
            for message in _list(value.get("messages")):
                inbound = _inbound(_dict(message), contacts, now, batch)
                if inbound is not None:
                    batch.inbound.append(inbound)
            for status in _list(value.get("statuses")):
                parsed = _status(_dict(status))
                if parsed is not None:
                    batch.statuses.append(parsed)
                else:
                    batch.skipped.append("status without id or status")
    return batch


@dataclass(frozen=True)
class _Contact:
    name: str | None
    wa_id: str | None
    user_id: str | None


def _contacts(value: dict) -> dict[str, _Contact]:
    """contacts[] by every id it may be referred to by (wa_id and user_id)."""
    found: dict[str, _Contact] = {}
    for item in _list(value.get("contacts")):
        item = _dict(item)
        contact = _Contact(
            name=_text(_dict(item.get("profile")).get("name")),
            wa_id=_text(item.get("wa_id")),
            user_id=_text(item.get("user_id")),
        )
        for key in (contact.wa_id, contact.user_id):
            if key:
                found[key] = contact
    return found


def address_for(wa_id: str | None, user_id: str | None) -> tuple[str, str | None] | None:
    """(learner channel key, E.164 phone): the number when Meta gives one ('whatsapp:+2547…', the same key as a
    Twilio learner's, so a box moved from Twilio keeps its learners), else the business-scoped user id."""
    phone = e164(wa_id)
    if phone:
        return f"whatsapp:{phone}", phone
    if user_id:
        return f"whatsapp:{user_id}", None
    return None


def _inbound(message: dict, contacts: dict[str, _Contact], now: datetime, batch: Batch) -> Inbound | None:
    wamid = _text(message.get("id"))
    sender = _text(message.get("from"))
    user_id = _text(message.get("from_user_id"))
    contact = contacts.get(sender or "") or contacts.get(user_id or "") or _Contact(None, None, None)
    wa_id = sender or contact.wa_id
    user_id = user_id or contact.user_id
    if sender and not e164(sender) and not user_id:  # a BSUID in "from" (an early 2026 shape)
        user_id, wa_id = sender, None
    keyed = address_for(wa_id, user_id)
    kind = _text(message.get("type")) or "unknown"
    if not wamid or keyed is None:
        batch.skipped.append(f"{kind} message without id or sender")
        return None
    if kind == "reaction":
        batch.skipped.append("reaction")  # a thumbs-up on our message needs no answer
        return None
    body, payload, title = "", None, None
    media: tuple[InboundMedia, ...] = ()
    if kind == "text":
        body = _text(_dict(message.get("text")).get("body")) or ""
    elif kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get("button_reply") or interactive.get("list_reply"))
        payload, title = _text(reply.get("id")), _text(reply.get("title"))
        body = title or payload or ""
    elif kind == "button":  # a template's quick-reply button
        button = _dict(message.get("button"))
        payload, title = _text(button.get("payload")), _text(button.get("text"))
        body = title or payload or ""
    elif kind in MEDIA_TYPES:
        item = _dict(message.get(kind))
        media_id = _text(item.get("id"))
        body = _text(item.get("caption")) or ""
        if media_id:
            mime = _text(item.get("mime_type")) or "application/octet-stream"
            media = (InboundMedia(url=MEDIA_URL_PREFIX + media_id, content_type=mime.split(";")[0].strip()),)
    # location, contacts, unsupported, and any type Meta adds later: no words to read (body ""), answered politely
    # as media ("I can only read text messages…", Inbound.attachments), never an error.
    address, phone = keyed
    return Inbound(
        channel="whatsapp",
        address=address,
        body=body,
        provider_sid=wamid,
        received_at=now,
        phone=phone,
        wa_id=wa_id if phone else None,
        wa_user_id=user_id,
        profile_name=contact.name,
        button_payload=payload,
        button_text=title,
        media=media[:MAX_MEDIA],
        kind=kind,
    )


def _status(status: dict) -> MetaStatus | None:
    wamid = _text(status.get("id"))
    state = (_text(status.get("status")) or "").lower()
    if not wamid or not state:
        return None
    first_error = _dict((_list(status.get("errors")) or [{}])[0])
    pricing = _dict(status.get("pricing"))
    billable = pricing.get("billable")
    tag = _text(status.get("biz_opaque_callback_data")) or ""
    return MetaStatus(
        wamid=wamid,
        status=state,
        error_code=_text(first_error.get("code")),
        error_title=_text(first_error.get("title")) or _text(first_error.get("message")),
        message_id=int(tag) if tag.isascii() and tag.isdigit() and int(tag) < 2**63 else None,
        pricing_category=_text(pricing.get("category")),
        pricing_billable=billable if isinstance(billable, bool) else None,
        pricing_model=_text(pricing.get("pricing_model")),
        pricing_type=_text(pricing.get("type")),
        conversation_type=_text(_dict(_dict(status.get("conversation")).get("origin")).get("type")),
    )
