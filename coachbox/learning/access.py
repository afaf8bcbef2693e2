"""Who may open a premium course: pure decisions over the learner's live subscriptions, handed in as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coachbox.core.plans import Plan, currency_for_region, format_amount


@dataclass(frozen=True)
class Entitlement:
    """One live subscription (paid period plus grace, not ended) as the engine sees it."""

    plan: str
    courses: frozenset[str] | None  # None = every premium course
    until: str  # ISO-8601 UTC end of access, grace included
    period_end: str = ""  # ISO-8601 UTC end of the paid period (what the learner is told)

    def covers(self, family: str) -> bool:
        return self.courses is None or family in self.courses


@dataclass(frozen=True)
class Access:
    """What the service loads into the Learner record before each turn (the engine does no I/O)."""

    entitlements: tuple[Entitlement, ...] = ()
    plans: tuple[Plan, ...] = ()  # every configured plan, in the order coachbox.toml lists them
    region: str | None = None  # the learner's phone number region ("KE"), for currency and M-PESA
    methods: tuple[str, ...] = ()  # "mpesa", "card": what this learner can pay with on this box


@dataclass(frozen=True)
class Offer:
    plan: Plan
    currency: str
    amount_minor: int

    @property
    def price(self) -> str:
        return format_amount(self.amount_minor, self.currency)


def access_of(learner: Any) -> Access:
    found = getattr(learner, "access", None)
    return found if isinstance(found, Access) else Access()


def may_access(learner: Any, course: Any) -> bool:
    """Free courses are free. A premium course opens with a live subscription whose plan covers it, for its
    first `free_lessons` lessons, or when no plan sells it (locking a course nobody can buy helps no one)."""
    if not getattr(course, "premium", False):
        return True
    access = access_of(learner)
    family = course.family
    if any(e.covers(family) for e in access.entitlements):
        return True
    selling = [p for p in access.plans if p.covers(family)]
    if not selling:
        return True
    enrollment = learner.enrollment(course.id) if hasattr(learner, "enrollment") else None
    next_position = enrollment.next_position if enrollment is not None else 1
    return next_position <= max(p.free_lessons for p in selling)


def offer_for(access: Access, course: Any | None = None) -> Offer | None:
    """The plan to offer: the first one covering this course (or simply the first plan), in the learner's currency."""
    plans = [p for p in access.plans if course is None or p.covers(course.family)] or list(access.plans)
    if not plans:
        return None
    return offer_of(access, plans[0])


def offer_by_name(access: Access, name: str) -> Offer | None:
    plan = next((p for p in access.plans if p.name == name), None)
    if plan is None:
        return None
    return offer_of(access, plan)


def offer_of(access: Access, plan: Plan) -> Offer:
    """This plan's offer in the learner's currency."""
    currency = currency_for_region(access.region, plan)
    amount = plan.price(currency)
    assert amount is not None, "currency_for_region picks a currency the plan has a price in"
    return Offer(plan, currency, amount)


def subscribed(access: Access) -> tuple[Entitlement, ...]:
    return access.entitlements
