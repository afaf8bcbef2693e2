"""Badges: which BadgeDefinition rules a learner meets after a completed lesson (rules are data, not code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from coachbox.learning.course import BadgeDefinition

EARLY_BIRD_BEFORE_HOUR = 8  # "early bird" = a lesson completed before 08:00 in the learner's time zone


@dataclass(frozen=True)
class Achievement:
    """What the learner has just done, as the badge rules see it."""

    lessons_completed: int
    streak: int
    perfect_quiz: bool
    course_completed: bool
    local_hour: int


def _meets(badge: BadgeDefinition, done: Achievement) -> bool:
    if badge.rule == "lessons_completed":
        return done.lessons_completed >= badge.threshold
    if badge.rule == "streak":
        return done.streak >= badge.threshold
    if badge.rule == "perfect_quiz":
        return done.perfect_quiz
    if badge.rule == "course_complete":
        return done.course_completed
    if badge.rule == "early_bird":
        return done.local_hour < EARLY_BIRD_BEFORE_HOUR
    return False  # an unknown rule (newer content on an older box) awards nothing


def new_badges(
    definitions: Iterable[BadgeDefinition], done: Achievement, owned: Iterable[str]
) -> list[BadgeDefinition]:
    """Badges earned now and not owned yet, in definition order."""
    have = set(owned)
    return [b for b in definitions if b.code not in have and _meets(b, done)]
