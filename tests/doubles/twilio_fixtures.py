"""Fixtures and helpers for the Twilio channel tests: the double, Twilio settings, services, a stand-in turn."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from coachbox.channels.base import Inbound
from coachbox.channels.twilio.transport import TwilioChannel
from coachbox.core.config import Settings
from coachbox.store import transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound, record_inbound
from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble

PUBLIC_URL = "https://coach.example.org"
ALICE = "whatsapp:+254700000001"


@pytest.fixture
def twilio_double(clock):
    double = TwilioDouble(now=clock.now).start()
    yield double
    double.stop()


def twilio_settings_for(settings: Settings, double_url: str, **twilio) -> Settings:
    values = dict(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=double_url,
        whatsapp_from="whatsapp:+14155238886",
        sms_from="+14155238000",
        messages_per_second=1000.0,
    )
    values.update(twilio)
    return settings.replace(twilio=values, server={"public_url": PUBLIC_URL})


@pytest.fixture
def twilio_settings(settings, twilio_double) -> Settings:
    return twilio_settings_for(settings, twilio_double.url)


@pytest.fixture
def tservices(twilio_settings, conn, clock):
    """Services wired to the Twilio channel and the double, with the stand-in conversation turn."""
    from coachbox.jobs.queue import create_huey
    from coachbox.roots.services import build_services

    built = build_services(
        twilio_settings,
        clock=clock,
        channel=TwilioChannel(twilio_settings),
        huey=create_huey(twilio_settings, immediate=True),
    )
    built.inbound_handler = stand_in_turn
    yield built
    built.close_sync()


# -- a stand-in for coachbox.turns.runner.handle_inbound (tests only) ----------------------------------
@dataclass(frozen=True)
class TurnOutcome:
    duplicate: bool
    learner_id: int | None
    outbox_ids: tuple[int, ...] = ()


def upsert_learner(
    conn: sqlite3.Connection, key: str, *, now: str, last_inbound_at: str | None = None, opted_out: bool = False
) -> int:
    channel = key.partition(":")[0]
    conn.execute(
        """INSERT INTO learners (channel_key, channel, created_at, updated_at, last_inbound_at, opted_out)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (channel_key) DO UPDATE SET last_inbound_at = COALESCE(excluded.last_inbound_at, last_inbound_at)""",
        (key, channel, now, now, last_inbound_at, int(opted_out)),
    )
    return conn.execute("SELECT id FROM learners WHERE channel_key = ?", (key,)).fetchone()[0]


def _turn(conn: sqlite3.Connection, inbound: Inbound) -> TurnOutcome:
    now = inbound.received_at.isoformat()
    with transaction(conn):
        learner_id = upsert_learner(conn, inbound.address, now=now)
        if record_inbound(conn, inbound, learner_id) is None:
            return TurnOutcome(True, learner_id)
        conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", (now, learner_id))
        out = enqueue_outbound(
            conn,
            learner_id=learner_id,
            channel=inbound.channel,
            address=inbound.address,
            draft=OutboxDraft(body=f"echo: {inbound.body}", idempotency_key=f"reply:{inbound.provider_sid}"),
            now=inbound.received_at,
        )
        return TurnOutcome(False, learner_id, (out,))


async def stand_in_turn(services, inbound: Inbound) -> TurnOutcome:
    return await services.db.run(_turn, inbound)


def enqueue(
    conn: sqlite3.Connection,
    key: str,
    body: str,
    now: datetime,
    *,
    kind: str = "reply",
    last_inbound_at: datetime | None = None,
    opted_out: bool = False,
    status: str = "queued",
    next_attempt_at: datetime | None = None,
    **draft,
) -> int:
    with transaction(conn):
        learner_id = upsert_learner(
            conn, key, now=now.isoformat(), opted_out=opted_out, last_inbound_at=(last_inbound_at or now).isoformat()
        )
        return enqueue_outbound(
            conn,
            learner_id=learner_id,
            channel=key.partition(":")[0],
            address=key,
            draft=OutboxDraft(body=body, kind=kind, **draft),
            now=now,
            status=status,
            next_attempt_at=next_attempt_at,
        )


def row(conn: sqlite3.Connection, message_id: int) -> sqlite3.Row:
    return conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()


# -- signing as Twilio does -------------------------------------------------------------------------------------------
def twilio_signature(url: str, form: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def inbound_form(sid: str = "SM" + "0" * 32, sender: str = ALICE, body: str = "hello", **extra) -> dict:
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Alice",
        "WaId": sender.removeprefix("whatsapp:+"),
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def signed_request(path: str, form: dict, *, query: str = "", base: str = PUBLIC_URL) -> tuple[bytes, dict]:
    url = f"{base}{path}" + (f"?{query}" if query else "")
    headers = {"X-Twilio-Signature": twilio_signature(url, form), "Content-Type": "application/x-www-form-urlencoded"}
    return urlencode(form).encode(), headers
