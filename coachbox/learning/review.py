"""The review schedule (pure): SM-2 over one (learner, question) card, and how quiz outcomes rate a recall."""

from __future__ import annotations

from dataclasses import dataclass, replace

RIGHT_QUALITY = 4  # the question answered right again in a quiz
WRONG_QUALITY = 1  # answered wrong (again)


@dataclass(frozen=True)
class Card:
    """SM-2 state of one (learner, question) item."""

    interval_days: float = 0.0
    ease: float = 2.5
    repetitions: int = 0
    lapses: int = 0


def sm2(card: Card, quality: int) -> Card:
    """SuperMemo-2 (Wozniak 1990): a failed recall restarts the intervals; a good one multiplies them by ease."""
    ease = max(1.3, card.ease + 0.1 - (5 - quality) * (0.08 + (5 - quality) * 0.02))
    if quality < 3:
        return Card(interval_days=1.0, ease=ease, repetitions=0, lapses=card.lapses + 1)
    repetitions = card.repetitions + 1
    interval = 1.0 if repetitions == 1 else 6.0 if repetitions == 2 else round(card.interval_days * ease, 1)
    return replace(card, interval_days=interval, ease=ease, repetitions=repetitions)
