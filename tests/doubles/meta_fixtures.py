"""Fixtures and webhook payloads for the Meta channel tests, in the shapes Meta sends (after nyaruka/courier's
handlers/meta/testdata/wac/*.json), signed with X-Hub-Signature-256."""

from __future__ import annotations

import json
from itertools import count

import pytest

from coachbox.channels.meta.transport import MetaChannel
from coachbox.channels.meta.webhook import sign
from coachbox.core.config import Settings
from tests.doubles.meta_double import (
    ACCESS_TOKEN,
    API_VERSION,
    APP_SECRET,
    BUSINESS_NUMBER,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    WABA_ID,
    MetaDouble,
)

PUBLIC_URL = "https://coach.example.org"
ALICE_WA = "254700000001"
ALICE = "whatsapp:+254700000001"
_ids = count(1)


@pytest.fixture
def meta_double():
    double = MetaDouble().start()
    yield double
    double.stop()


def meta_settings_for(settings: Settings, double_url: str, **meta) -> Settings:
    values = dict(
        phone_number_id=PHONE_NUMBER_ID,
        access_token=ACCESS_TOKEN,
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        waba_id=WABA_ID,
        api_base_url=double_url,
        api_version=API_VERSION,
        messages_per_second=1000.0,
    )
    values.update(meta)
    return settings.replace(meta=values, server={"public_url": PUBLIC_URL})


@pytest.fixture
def meta_settings(settings, meta_double) -> Settings:
    return meta_settings_for(settings, meta_double.url)


@pytest.fixture
def mservices(meta_settings, conn, clock):
    """Services wired to the Meta channel and the double (the real conversation engine)."""
    from coachbox.jobs.queue import create_huey
    from coachbox.roots.services import build_services

    built = build_services(
        meta_settings, clock=clock, channel=MetaChannel(meta_settings), huey=create_huey(meta_settings, immediate=True)
    )
    yield built
    built.close_sync()


# -- payloads ---------------------------------------------------------------------------------------------------------
def wamid() -> str:
    return f"wamid.HBgMMjU0NzAwMDAwMDAxFQIAEhgg{next(_ids):08d}"


def contact(wa_id: str | None = ALICE_WA, name: str = "Amina Wanjiru", user_id: str | None = None) -> dict:
    item: dict = {"profile": {"name": name}}
    if wa_id:
        item["wa_id"] = wa_id
    if user_id:
        item["user_id"] = user_id
    return item


def message(kind: str = "text", *, sender: str | None = ALICE_WA, user_id: str | None = None, **fields) -> dict:
    item: dict = {"id": fields.pop("id", None) or wamid(), "timestamp": "1772427600", "type": kind}
    if sender:
        item["from"] = sender
    if user_id:
        item["from_user_id"] = user_id
    item.update(fields)
    return item


def text(body: str, **kw) -> dict:
    return message("text", text={"body": body}, **kw)


def button_reply(reply_id: str, title: str, **kw) -> dict:
    return message(
        "interactive", interactive={"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}, **kw
    )


def list_reply(reply_id: str, title: str, **kw) -> dict:
    return message(
        "interactive",
        interactive={"type": "list_reply", "list_reply": {"id": reply_id, "title": title, "description": ""}},
        **kw,
    )


def status(
    wamid_: str,
    state: str,
    *,
    recipient: str = ALICE_WA,
    tag: str | None = None,
    error: int | None = None,
    category: str = "utility",
    billable: bool = True,
) -> dict:
    item: dict = {
        "id": wamid_,
        "status": state,
        "timestamp": "1772427601",
        "recipient_id": recipient,
        "pricing": {"billable": billable, "pricing_model": "PMP", "category": category, "type": "regular"},
    }
    if state == "sent":
        item["conversation"] = {"id": "c0ffee", "origin": {"type": category}}
    if tag:
        item["biz_opaque_callback_data"] = tag
    if error is not None:
        item["errors"] = [
            {
                "code": error,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ]
    return item


def change(messages: list[dict] = (), statuses: list[dict] = (), contacts: list[dict] | None = None) -> dict:
    value: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = contacts if contacts is not None else [contact()]
        value["messages"] = list(messages)
    elif contacts:
        value["contacts"] = contacts
    if statuses:
        value["statuses"] = list(statuses)
    return {"value": value, "field": "messages"}


def envelope(*changes: dict, entries: int = 1) -> dict:
    """{"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [...]}]}; entries > 1 spreads the
    changes over that many entries (Meta batches several)."""
    per = max(1, -(-len(changes) // entries))
    groups = [list(changes[i : i + per]) for i in range(0, len(changes), per)] or [[]]
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": g} for g in groups]}


def signed(payload: dict, secret: str = APP_SECRET) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}
