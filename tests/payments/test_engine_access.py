"""Access checks inside the pure engine, and PAY / CANCEL PLAN through the real service and the doubles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timezone
from pathlib import Path

import pytest

from coachbox.conversation.engine import handle
from coachbox.conversation.events import Message
from coachbox.conversation.premium import RequestPayment
from coachbox.conversation.state import State
from coachbox.conversation.texts import Texts
from coachbox.core.plans import load_plans
from coachbox.learning.access import Access, Entitlement
from coachbox.learning.learner import Enrollment, Learner
from tests.conversation.builders import catalogue
from tests.payments.conftest import PLANS

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
PLAN_LIST = tuple(load_plans(PLANS).values())


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load(REPO / "content" / "locales")


def _learner(
    course_id: int, *, next_position: int = 2, access: Access | None = None, phone="+254712345678", language="en"
) -> Learner:
    return Learner(
        id=7,
        phone=phone,
        name="Amina",
        language=language,
        status="active",
        current_course_id=course_id,
        enrollments=(Enrollment(course_id, next_position=next_position),),
        access=access,
    )


def _next(learner, texts):
    return handle(Message("NEXT"), State(flow="idle"), learner, catalogue(), texts, NOW)


@pytest.mark.parametrize("region_phone, price", [("+254712345678", "KES 200"), ("+14155550100", "USD 2.50")])
def test_it_offers_pay_with_the_price_in_the_learners_currency_instead_of_a_premium_lesson(texts, region_phone, price):
    region = "KE" if region_phone.startswith("+254") else "US"
    learner = _learner(3, access=Access(plans=PLAN_LIST, region=region, methods=("mpesa", "card")), phone=region_phone)
    decision = _next(learner, texts)
    assert [r.kind for r in decision.replies] == ["reply"]
    assert price in decision.replies[0].text and "PAY" in decision.replies[0].text
    assert not any(type(e).__name__ == "RecordDelivery" for e in decision.effects)


def test_it_delivers_premium_lessons_with_a_live_subscription_and_the_free_ones_without(texts):
    live = Access(entitlements=(Entitlement("monthly", None, "2026-04-03T05:00:00+00:00"),), plans=PLAN_LIST)
    assert any(r.kind == "lesson" for r in _next(_learner(3, access=live), texts).replies)
    first_free = _learner(3, next_position=1, access=Access(plans=PLAN_LIST))  # free_lessons = 1
    assert any(r.kind == "lesson" for r in _next(first_free, texts).replies)
    free_course = _learner(1, access=Access(plans=PLAN_LIST))
    assert any(r.kind == "lesson" for r in _next(free_course, texts).replies)


def test_it_asks_how_to_pay_then_requests_the_payment_in_kiswahili(texts):
    learner = _learner(3, access=Access(plans=PLAN_LIST, region="KE", methods=("mpesa", "card")), language="sw")
    first = handle(Message("LIPA"), State(flow="idle"), learner, catalogue(), texts, NOW)
    assert (
        first.state.flow == "pay_method" and "M-PESA" in first.replies[-1].text and "KES 200" in first.replies[-1].text
    )
    second = handle(Message("1"), first.state, learner, catalogue(), texts, NOW)
    assert second.effects == (RequestPayment("monthly", "mpesa", "KES", 20000, 30),)
    assert second.state.flow == "idle"


@pytest.mark.anyio
async def test_it_runs_pay_through_the_service_to_an_stk_push(services, conn, daraja, learner):
    """The whole path: learner says PAY → 1 → payment row in the turn → the worker's sweep → Daraja prompts."""
    from coachbox.channels.base import Inbound
    from coachbox.payments import recovery
    from coachbox.turns.runner import handle_inbound

    conn.execute(
        "UPDATE learners SET current_course_id = (SELECT id FROM courses WHERE slug = 'python-basics') WHERE id = ?",
        (learner,),
    )
    for number, body in enumerate(["PAY", "1"]):
        await handle_inbound(
            services, Inbound("whatsapp", "whatsapp:+254712345678", body, f"SM{number}", NOW, phone="+254712345678")
        )
    row = conn.execute("SELECT status, amount_minor, phone FROM payments").fetchone()
    assert tuple(row) == ("new", 20000, "+254712345678")  # written by the turn; no task ran (no Huey here)
    assert (await recovery.sweep(services))["pushed"] == 1
    assert conn.execute("SELECT status FROM payments").fetchone()[0] == "pending"
    assert daraja.pushes[0].body["Amount"] == 200
