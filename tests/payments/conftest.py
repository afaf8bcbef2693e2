"""Payment fixtures: Daraja and Stripe doubles on 127.0.0.1, settings pointing at them, plans, a Kenyan learner."""

from __future__ import annotations

import pytest
from sanic_testing.testing import SanicASGITestClient

from tests.payments import daraja_double as dd
from tests.payments import stripe_double as sd

CALLBACK_SECRET = "cb-" + "7f" * 24
PLANS = {
    "monthly": {
        "title": "Premium, 30 days",
        "price": {"KES": 20000, "USD": 250},
        "period_days": 30,
        "courses": "all-premium",
        "free_lessons": 1,
        "grace_days": 2,
        "stripe_price": {"USD": "price_usd_monthly"},
    },
}


@pytest.fixture
def daraja():
    double = dd.DarajaDouble().start()
    yield double
    double.stop()


@pytest.fixture
def stripe_double():
    double = sd.StripeDouble().start()
    yield double
    double.stop()


@pytest.fixture
def settings(settings, daraja, stripe_double):
    """The shared settings with M-PESA and Stripe pointed at the doubles, and one plan."""
    return settings.replace(
        plans=PLANS,
        mpesa={
            "consumer_key": dd.CONSUMER_KEY,
            "consumer_secret": dd.CONSUMER_SECRET,
            "shortcode": dd.SHORTCODE,
            "passkey": dd.PASSKEY,
            "base_url": daraja.base_url,
            "callback_secret": CALLBACK_SECRET,
        },
        stripe={
            "secret_key": sd.SECRET_KEY,
            "webhook_secret": sd.WEBHOOK_SECRET,
            "api_base_url": stripe_double.base_url,
        },
        server={"public_url": "https://coach.example.org"},
    )


@pytest.fixture
def client(app) -> SanicASGITestClient:
    return SanicASGITestClient(app)


def add_learner(conn, *, phone="+254712345678", name="Amina", language="en") -> int:
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, language, status, created_at, updated_at)
           VALUES (?, 'whatsapp', ?, ?, ?, 'active', '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (f"whatsapp:{phone}", phone, name, language),
    )
    return cursor.lastrowid


@pytest.fixture
def learner(conn) -> int:
    return add_learner(conn)


def outbox(conn, learner_id: int) -> list:
    return conn.execute(
        "SELECT * FROM messages WHERE learner_id = ? AND direction = 'out' ORDER BY id", (learner_id,)
    ).fetchall()


def poster(client):
    async def post(path: str, body: bytes):
        _, response = await client.post(path, content=body, headers={"content-type": "application/json"})
        return response

    return post
