"""The pages Stripe Checkout returns the learner to: friendly, localized, mobile-friendly, back to WhatsApp."""

from __future__ import annotations

import pytest

from coachbox.payments import checkout
from tests.payments.conftest import add_learner

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings):
    return settings.replace(twilio={"whatsapp_from": "whatsapp:+14155238886"})


async def test_it_thanks_the_learner_and_sends_them_back_to_whatsapp(client):
    _, page = await client.get("/payments/done?lang=en")
    assert page.status_code == 200
    assert 'lang="en"' in page.text and "Thank you!" in page.text and "Go back to WhatsApp" in page.text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page.text
    assert 'href="https://wa.me/14155238886"' in page.text and "Back to WhatsApp" in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_it_speaks_swahili_when_the_link_says_so(client):
    _, done = await client.get("/payments/done?lang=sw")
    assert 'lang="sw"' in done.text and "Asante!" in done.text and "Rudi WhatsApp" in done.text
    _, cancelled = await client.get("/payments/cancelled?lang=sw")
    assert "Hakuna malipo yaliyofanyika" in cancelled.text and "LIPA" in cancelled.text


async def test_it_falls_back_to_the_browser_language_then_english(client):
    _, page = await client.get("/payments/cancelled", headers={"accept-language": "sw-KE,sw;q=0.9,en;q=0.8"})
    assert 'lang="sw"' in page.text
    _, page = await client.get("/payments/cancelled?lang=xx", headers={"accept-language": "fr-FR"})
    assert 'lang="en"' in page.text and "No payment was made" in page.text and "reply PAY" in page.text


async def test_it_escapes_what_it_is_given(client):
    _, page = await client.get("/payments/done?lang=%3Cscript%3E")
    assert "<script>" not in page.text and 'lang="en"' in page.text


async def test_it_puts_the_learners_language_in_the_return_links(services, conn, stripe_double):
    learner = add_learner(conn, phone="+254711000111", language="sw")
    await checkout.card_link(services, learner, "monthly", "USD", "turn-sw")
    [made] = stripe_double.sessions
    assert made.params["success_url"].endswith("/payments/done?lang=sw")
    assert made.params["cancel_url"].endswith("/payments/cancelled?lang=sw")
