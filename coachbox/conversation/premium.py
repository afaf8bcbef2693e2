"""PAY, CANCEL PLAN and the paywall in the conversation: pure, on the engine's Turn, with Access handed in as data."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from coachbox.learning.access import Offer, access_of, offer_for, offer_of

FLOWS = ("pay_plan", "pay_method")  # a numbered list of plans / of ways to pay is on screen


@dataclass(frozen=True)
class RequestPayment:
    """Effect: start paying for one period of a plan (the service writes the payment, the worker talks to M-PESA
    or Stripe after the commit). The amount travels as integer minor units, fixed when the learner chose."""

    plan: str
    method: str  # mpesa | card
    currency: str
    amount_minor: int
    period_days: int


@dataclass(frozen=True)
class CancelPlan:
    """Effect: no renewal for the learner's live plans (access runs to the end of the paid period)."""


def paywall(turn: Any, course: Any) -> None:
    """Instead of a premium lesson: the offer, with the price in the learner's currency."""
    offer = offer_for(access_of(turn.learner), course)
    if offer is None:
        turn.say("lesson.locked", course=course.title)
        return
    turn.say(
        "payments.offer",
        course=course.title,
        plan=offer.plan.title,
        price=offer.price,
        days=offer.plan.period_days,
        options=(turn.words("payments.pay")[0].upper(),),
    )


def pay(turn: Any) -> None:
    access = access_of(turn.learner)
    if not access.plans:
        turn.say("payments.no_plans")
        return
    if not access.methods:
        turn.say("payments.no_method")
        return
    if access.entitlements:
        best = max(access.entitlements, key=lambda e: e.period_end or e.until)
        turn.say("payments.already", plan=best.plan, date=_day(turn, best.period_end or best.until))
    plans = [p for p in access.plans if _methods(access, p)]
    if not plans:
        turn.say("payments.no_method")
        return
    current = turn.course
    first = offer_for(access, current if current is not None and current.premium else None)
    if len(plans) == 1 or first is None:
        _choose_method(turn, offer_of(access, plans[0]))
        return
    lines = [
        turn.t("payments.plan_line", number=i, plan=p.title, price=offer_of(access, p).price, days=p.period_days)
        for i, p in enumerate(plans, start=1)
    ]
    turn.state = _with_flow(turn, "pay_plan", options=tuple(range(len(plans))))
    turn.say("payments.choose_plan", menu="\n".join(lines), options=tuple(str(i) for i in range(1, len(plans) + 1)))


def answer(turn: Any, said: str) -> bool:
    """The learner's reply while a pay_* list is on screen; False when it is not one of the numbers."""
    access = access_of(turn.learner)
    choice = said.strip().rstrip(".")
    if not choice.isdigit():
        return False
    number = int(choice)
    plans = [p for p in access.plans if _methods(access, p)]
    if turn.state.flow == "pay_plan":
        if not 1 <= number <= len(plans):
            return False
        _choose_method(turn, offer_of(access, plans[number - 1]))
        return True
    index = turn.state.options[0] if turn.state.options else 0
    if index >= len(plans):
        return False
    offer = offer_of(access, plans[index])
    methods = _methods(access, offer.plan)
    if not 1 <= number <= len(methods):
        return False
    _start(turn, offer, methods[number - 1])
    return True


def cancel(turn: Any) -> None:
    access = access_of(turn.learner)
    if not access.entitlements:
        turn.say("payments.nothing_to_cancel")
        return
    last = max(e.period_end or e.until for e in access.entitlements)
    turn.do(CancelPlan())
    turn.say("payments.cancelled", date=_day(turn, last))


def _methods(access, plan) -> tuple[str, ...]:
    return tuple(
        m for m in access.methods if (m == "mpesa" and plan.price("KES")) or (m == "card" and plan.stripe_prices)
    )


def _choose_method(turn: Any, offer: Offer) -> None:
    access = access_of(turn.learner)
    methods = _methods(access, offer.plan)
    if len(methods) == 1:
        _start(turn, offer, methods[0])
        return
    plans = [p for p in access.plans if _methods(access, p)]
    index = next(i for i, p in enumerate(plans) if p.name == offer.plan.name)
    lines = [
        turn.t(f"payments.method_{m}", number=i, phone=turn.learner.phone or "") for i, m in enumerate(methods, start=1)
    ]
    turn.state = _with_flow(turn, "pay_method", options=(index,))
    turn.say(
        "payments.choose_method",
        price=offer.price,
        menu="\n".join(lines),
        options=tuple(str(i) for i in range(1, len(methods) + 1)),
    )


def _start(turn: Any, offer: Offer, method: str) -> None:
    plan = offer.plan
    if method == "mpesa":
        amount, currency = plan.price("KES"), "KES"  # M-PESA charges shillings whatever the learner's currency
    else:
        card = plan.stripe_price(offer.currency)
        assert card is not None, "card is offered only for a plan with Stripe prices (_methods)"
        currency, _ = card
        amount = plan.price(currency)
    # _methods offers M-PESA only for a plan priced in KES; a Stripe currency always has a price (core.plans).
    assert amount is not None
    turn.do(RequestPayment(plan.name, method, currency, amount, plan.period_days))
    turn.state = _with_flow(turn, "idle", options=())


def _with_flow(turn: Any, flow: str, **changes: Any) -> Any:
    return replace(turn.state, flow=flow, unclear=0, **changes)


def _day(turn: Any, iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(ZoneInfo(turn.learner.timezone)).strftime("%Y-%m-%d")
    except (ValueError, KeyError):
        return iso[:10]
