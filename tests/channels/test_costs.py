"""The cost ledger on the wire: category and estimate when a message is received or sent (Twilio and Meta doubles),
a refused send's fee, Twilio's price fetched later, Meta's pricing through the rate card, and the budget stop."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from coachbox.channels.costs import fetch_twilio_prices, reconcile_costs, settle_meta_pricing
from coachbox.channels.costs import rate_card as card_of
from coachbox.channels.meta.transport import MetaChannel
from coachbox.channels.outbox import deliver_due
from coachbox.channels.states import of as state_of
from coachbox.channels.twilio.status import StatusUpdate, apply_status
from coachbox.channels.twilio.transport import TwilioChannel
from coachbox.content.importer import import_folder
from coachbox.jobs.queue import create_huey
from coachbox.ops.checks import check_costs
from coachbox.roots.app import create_app
from coachbox.roots.services import build_services
from coachbox.store import messages, transaction
from tests.doubles.meta_fixtures import (  # noqa: F401 - fixtures
    ALICE as META_ALICE,
)
from tests.doubles.meta_fixtures import (  # noqa: F401 - fixtures
    change,
    envelope,
    meta_double,
    meta_settings,
    meta_settings_for,
    mservices,
    signed,
    text,
)
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    ALICE,
    enqueue,
    inbound_form,
    row,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings,
    twilio_settings_for,
)

pytestmark = pytest.mark.anyio
NIGERIAN = "whatsapp:+2348031234567"
_sids = itertools.count(1)


async def _drain(services) -> None:
    while await deliver_due(services):
        pass
    await services.channel.close()


def _services(settings, clock, channel=None):
    return build_services(
        settings,
        clock=clock,
        channel=channel or TwilioChannel(settings),
        huey=create_huey(settings, immediate=True),
    )


# -- estimates when received and sent -----------------------------------------------------------------------------------
async def test_a_twilio_message_in_and_the_reply_out_are_costed_as_they_happen(tservices, twilio_settings, conn):
    """Through the real webhook and the real conversation: the learner's message costs Twilio's fee ($0.005); the
    reply inside the window is a service message, billed at Kenya's utility rate since Oct 2026 plus the fee."""
    import_folder(conn, twilio_settings.content_dir, twilio_settings, progress=None)
    tservices.inbound_handler = None  # the real turn (coachbox.turns.runner)
    app = create_app(twilio_settings, tservices)
    form = inbound_form(sid=f"SM{next(_sids):032d}", sender=ALICE, body="hi")
    payload, headers = signed_request("/webhooks/twilio", form)
    _, response = await app.asgi_client.post("/webhooks/twilio", content=payload, headers=headers)
    assert response.status == 200
    await _drain(tservices)
    received = conn.execute("SELECT * FROM messages WHERE direction = 'in'").fetchone()
    assert (received["market"], received["cost_category"], received["cost_estimate_micros"]) == ("KE", "free", 5000)
    replies = conn.execute("SELECT * FROM messages WHERE direction = 'out' AND status = 'sent'").fetchall()
    assert replies and all(
        (r["market"], r["cost_category"], r["cost_estimate_micros"]) == ("KE", "service", 9000) for r in replies
    )
    assert all(r["cost_actual_micros"] is None for r in replies)  # known only when Twilio prices it


async def test_templates_outside_the_window_are_costed_at_their_declared_category(settings, conn, clock, twilio_double):
    configured = twilio_settings_for(
        settings,
        twilio_double.url,
        templates={"broadcast": {"sid": "HXbroadcast", "category": "marketing"}, "reminder": "HXreminder"},
    )
    services = _services(configured, clock)
    try:
        away = clock.now() - timedelta(days=2)
        promo = enqueue(conn, NIGERIAN, "News!", clock.now(), kind="broadcast", last_inbound_at=away)
        nudge = enqueue(conn, ALICE, "Your lesson", clock.now(), kind="reminder", last_inbound_at=away)
        await _drain(services)
        assert (row(conn, promo)["cost_category"], row(conn, promo)["market"]) == ("marketing", "NG")
        assert row(conn, promo)["cost_estimate_micros"] == 51600 + 5000
        assert (row(conn, nudge)["cost_category"], row(conn, nudge)["cost_estimate_micros"]) == ("utility", 9000)
        assert row(conn, nudge)["content_sid"] == "HXreminder"  # the plain-SID form still works
    finally:
        services.close_sync()


async def test_simulator_messages_cost_nothing(services, conn, clock):
    mid = enqueue(conn, "sim:+254700000001", "hello", clock.now())
    await _drain(services)
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["cost_estimate_micros"] is None


async def test_a_send_refused_outside_the_window_adds_twilios_refusal_fee(settings, conn, clock, twilio_double):
    """63016: the free-form try is refused (Twilio still charges $0.001), the row goes again as its template."""
    configured = twilio_settings_for(settings, twilio_double.url, templates={"reminder": "HXreminder"})
    services = _services(configured, clock)
    try:
        mid = enqueue(conn, ALICE, "Come back", clock.now(), kind="reminder")
        await _drain(services)
        first = row(conn, mid)
        assert first["cost_category"] == "service" and first["cost_estimate_micros"] == 9000
        update = StatusUpdate(sid=first["provider_sid"], status="undelivered", error_code="63016", message_id=mid)
        assert apply_status(conn, update, clock.now().isoformat(), lambda key: True) == "requeued"
        await _drain(services)
        again = row(conn, mid)
        assert again["status"] == "sent" and again["content_sid"] == "HXreminder"
        assert again["cost_category"] == "utility" and again["cost_estimate_micros"] == 9000 + 1000
    finally:
        services.close_sync()


async def test_a_send_found_at_twilio_after_a_lost_answer_is_costed_by_the_ledgers_job(
    tservices, conn, clock, twilio_double
):
    mid = enqueue(conn, ALICE, "taken, then a 500", clock.now())
    twilio_double.fail_next(1, status=500, accept=True)  # Twilio took it; our send never heard so
    await _drain(tservices)
    clock.advance(minutes=5)
    await _drain(tservices)  # the look-up finds it at Twilio: marked sent without going through the send
    assert row(conn, mid)["status"] == "sent" and row(conn, mid)["cost_estimate_micros"] is None
    await reconcile_costs(tservices)
    assert (row(conn, mid)["cost_category"], row(conn, mid)["cost_estimate_micros"]) == ("service", 9000)
    await tservices.channel.close()


# -- what the provider says later ---------------------------------------------------------------------------------------
async def test_twilios_price_is_fetched_politely_after_a_final_status(tservices, conn, clock, twilio_double):
    ids = [enqueue(conn, f"whatsapp:+25470000001{n}", f"m{n}", clock.now()) for n in range(3)]
    await _drain(tservices)
    sids = [row(conn, mid)["provider_sid"] for mid in ids]
    with transaction(conn):
        for mid in ids:
            messages.record_status(
                conn, mid, "delivered", row(conn, mid)["provider_sid"], None, None, clock.now().isoformat()
            )
    twilio_double.set_price(sids[0], "-0.00900")
    twilio_double.set_price(sids[1], "-0.00450")

    def looked_up() -> int:
        return sum(path.endswith(".json") and "/Messages/SM" in path for _, path in twilio_double.state.requests)

    assert await fetch_twilio_prices(tservices) == 0 and looked_up() == 0  # too soon: Twilio prices late
    clock.advance(minutes=6)
    assert await fetch_twilio_prices(tservices, limit=2) == 2 and looked_up() == 2  # at most `limit` a run
    assert [row(conn, mid)["cost_actual_micros"] for mid in ids[:2]] == [9000, 4500]
    assert row(conn, ids[0])["cost_estimate_micros"] == 9000  # the estimate stays beside the actual
    assert await fetch_twilio_prices(tservices) == 0 and looked_up() == 3  # the third: not priced yet
    assert row(conn, ids[2])["cost_actual_micros"] is None and row(conn, ids[2])["cost_checked_at"] is not None
    twilio_double.set_price(sids[2], "-0.00900")
    assert await fetch_twilio_prices(tservices) == 0 and looked_up() == 3  # not asked again within 30 minutes
    clock.advance(minutes=31)
    assert await fetch_twilio_prices(tservices) == 1 and row(conn, ids[2])["cost_actual_micros"] == 9000
    assert await fetch_twilio_prices(tservices) == 0 and looked_up() == 4  # priced rows are never asked again
    await tservices.channel.close()


async def test_meta_costs_in_and_out_and_its_pricing_becomes_the_actual(
    mservices, meta_settings, conn, clock, meta_double
):
    import_folder(conn, meta_settings.content_dir, meta_settings, progress=None)
    app = create_app(meta_settings, mservices)
    body, headers = signed(envelope(change([text("hi")])))
    _, response = await app.asgi_client.post("/webhooks/meta", content=body, headers=headers)
    assert response.status == 200
    enqueue(conn, META_ALICE, "and one more", clock.now())
    await _drain(mservices)
    received = conn.execute("SELECT * FROM messages WHERE direction = 'in'").fetchone()
    assert (received["cost_category"], received["cost_estimate_micros"]) == ("free", 0)  # Meta: no provider fee
    sent = conn.execute("SELECT * FROM messages WHERE direction = 'out' AND provider_sid IS NOT NULL").fetchall()
    assert sent and all((r["cost_category"], r["cost_estimate_micros"]) == ("service", 4000) for r in sent)
    first, second = sent[0], sent[-1]
    with transaction(conn):
        for r, billable in ((first, True), (second, False)):
            messages.record_pricing(
                conn,
                r["id"],
                r["provider_sid"],
                category="service",
                billable=billable,
                model="PMP",
                pricing_type="regular",
                conversation_type=None,
            )
    card = card_of(meta_settings)
    assert first["id"] != second["id"] and settle_meta_pricing(conn, card, clock.now()) == 2
    assert row(conn, first["id"])["cost_actual_micros"] == 4000
    assert row(conn, second["id"])["cost_actual_micros"] == 0  # Meta said not billable
    assert settle_meta_pricing(conn, card, clock.now()) == 0


# -- the monthly budget -------------------------------------------------------------------------------------------------
def _spend(conn, micros: int, at: str) -> None:
    conn.execute(
        """INSERT INTO messages (direction, channel, address, kind, status, cost_category, cost_estimate_micros,
                                 created_at, updated_at)
           VALUES ('out', 'whatsapp', 'whatsapp:+254700000099', 'lesson', 'delivered', 'service', ?, ?, ?)""",
        (micros, at, at),
    )


async def test_a_spent_budget_holds_broadcasts_and_reminders_but_not_lessons_or_replies(
    settings, conn, clock, twilio_double
):
    budgeted = twilio_settings_for(settings, twilio_double.url).replace(
        costs={"monthly_budget_usd": 1.0, "stop_proactive_at_budget": True}
    )
    _spend(conn, 800_000, clock.now().isoformat())
    warned = check_costs(budgeted, clock.now())
    assert any(f.level == "warn" and "$0.80 of the $1.00 monthly budget spent (80%" in f.what for f in warned)
    _spend(conn, 200_000, clock.now().isoformat())
    services = _services(budgeted, clock)
    try:
        broadcast = enqueue(conn, ALICE, "News", clock.now(), kind="broadcast", proactive=True)
        reminder = enqueue(conn, "whatsapp:+254700000003", "Come back", clock.now(), kind="reminder", proactive=True)
        lesson = enqueue(conn, "whatsapp:+254700000004", "Lesson 2", clock.now(), kind="lesson", proactive=True)
        reply = enqueue(conn, "whatsapp:+254700000005", "Karibu", clock.now())
        await _drain(services)
        assert row(conn, lesson)["status"] == "sent" and row(conn, reply)["status"] == "sent"
        for held in (broadcast, reminder):
            kept = row(conn, held)
            assert kept["status"] == "queued" and kept["error_code"] == "budget"  # kept, not lost
            assert "budget is spent ($1.00 of $1.00" in kept["error_message"]
            assert state_of(kept, clock.now(), "Africa/Nairobi").name == "budget"
        stopped = check_costs(budgeted, clock.now())
        assert any("broadcast, reminder are held until the month turns" in f.what for f in stopped)
    finally:
        services.close_sync()
    raised = budgeted.replace(costs={"monthly_budget_usd": 5.0, "stop_proactive_at_budget": True})
    services = _services(raised, clock)
    try:
        clock.advance(hours=1)  # held rows are looked at again every hour
        await _drain(services)
        assert row(conn, broadcast)["status"] == "sent" and row(conn, reminder)["status"] == "sent"
        assert row(conn, broadcast)["error_code"] is None
    finally:
        services.close_sync()


async def test_without_the_stop_a_spent_budget_only_warns(settings, conn, clock, twilio_double):
    budgeted = twilio_settings_for(settings, twilio_double.url).replace(costs={"monthly_budget_usd": 1.0})
    _spend(conn, 2_000_000, clock.now().isoformat())
    services = _services(budgeted, clock)
    try:
        broadcast = enqueue(conn, ALICE, "News", clock.now(), kind="broadcast", proactive=True)
        await _drain(services)
        assert row(conn, broadcast)["status"] == "sent"
        assert any("nothing is held" in f.what for f in check_costs(budgeted, clock.now()))
    finally:
        services.close_sync()


async def test_last_months_spending_does_not_count_against_this_month(settings, conn, clock, twilio_double):
    budgeted = twilio_settings_for(settings, twilio_double.url).replace(
        costs={"monthly_budget_usd": 1.0, "stop_proactive_at_budget": True}
    )
    _spend(conn, 5_000_000, "2026-02-28T20:00:00+00:00")  # 23:00 on 28 Feb in Nairobi: February
    services = _services(budgeted, clock)
    try:
        broadcast = enqueue(conn, ALICE, "News", clock.now(), kind="broadcast", proactive=True)
        await _drain(services)
        assert row(conn, broadcast)["status"] == "sent"
    finally:
        services.close_sync()


def test_coachbox_check_shows_the_rate_card_and_each_templates_category(settings, tmp_path):
    configured = settings.replace(
        twilio={
            "account_sid": "AC1",
            "auth_token": "t",
            "templates": {"broadcast": {"sid": "HX1", "category": "marketing"}, "reminder": "HX2"},
        }
    )
    findings = check_costs(configured)
    assert any(f.level == "ok" and "effective 2026-07-01" in f.what for f in findings)
    assert any(
        "[twilio.templates] billing categories: broadcast marketing, reminder utility" in f.what for f in findings
    )
    assert any(f.level == "info" and "marketing templates cost several times" in f.what for f in findings)
    (tmp_path / "card.toml").write_text('source = "x"\neffective = "2026-07-01"\n[markets.KE]\nutility = 1\n')
    broken = settings.replace(costs={"rate_card": str(tmp_path / "card.toml")})
    (finding,) = check_costs(broken)
    assert finding.level == "error" and 'card.toml: [markets."*"] (rest of world) is missing' in finding.what
