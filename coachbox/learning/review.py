"""The review schedule (pure): FSRS-6 (the `fsrs` package) over one (learner, question) card, and how answers rate."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler, State

DEFAULT_RETENTION = 0.9  # [learning] desired_retention
AGAIN, HARD, GOOD = int(Rating.Again), int(Rating.Hard), int(Rating.Good)  # 1, 2, 3 as stored in review_log.rating
RATING_NAMES = {int(r): r.name for r in Rating}


def rating(right: bool, *, helped: bool = False) -> int:
    """THE map from an answer to an FSRS rating (the one place; docs/scheduling.md#review-spaced-repetition):

    - wrong → Again (a lapse: the question comes back the next day);
    - right at the first try → Good;
    - right after a hint or a retry → Hard (recalled, with difficulty).

    What "hint" and "retry" are today: there are no hints in a quiz or a review. A retry is a second go at the same
    question: in a review, after a re-prompt (an unclear reply like "hmm, maybe" gets the question again, never a
    wrong mark; conversation.review passes `state.unclear > 0`); in a quiz, answering again a question answered
    wrong less than RETRY_HOURS before (retaking a failed quiz: retried()). The answers table keeps no count of a
    quiz's re-prompts, so those count as a first try. Easy is never given: a chat reply cannot tell an effortless
    recall from a good one.
    """
    if not right:
        return AGAIN
    return HARD if helped else GOOD


RETRY_HOURS = 12  # a quiz answer this soon after the same question was answered wrong is a retry (a retake)


def retried(card: Card | None, at: datetime) -> bool:
    """Is an answer at `at` a retry of this card's question: its last answer was wrong (a lapse, no right recall
    since) less than RETRY_HOURS ago, i.e. a retake of the quiz it was missed in."""
    if card is None or card.last_review is None or card.repetitions or not card.lapses:
        return False
    return timedelta(0) <= at - card.last_review < timedelta(hours=RETRY_HOURS)


@dataclass(frozen=True)
class Card:
    """FSRS state of one (learner, question) item, as review_items keeps it. stability None: never reviewed."""

    due: datetime
    stability: float | None = None  # days until the chance of recall falls to 90 %
    difficulty: float | None = None  # 1 (easy) to 10 (hard)
    last_review: datetime | None = None
    repetitions: int = 0  # right recalls in a row (a lapse resets it)
    lapses: int = 0


@dataclass(frozen=True)
class Outcome:
    """One review: the card after it and what FSRS predicted before it (review_log's row)."""

    before: Card | None
    card: Card
    rating: int
    retrievability: float | None  # the predicted chance of recall at review time; None for a new card
    elapsed_days: float | None


@functools.lru_cache(maxsize=8)
def scheduler(desired_retention: float = DEFAULT_RETENTION) -> Scheduler:
    """FSRS-6 with its default parameters. No learning or relearning steps (minutes apart): a WhatsApp review
    comes at most once a day, so every answer schedules whole days (a lapse: the next day). No fuzzing: the same
    answers give the same due dates (tests, the benchmark), and review_per_day already spreads a busy day."""
    return Scheduler(desired_retention=desired_retention, learning_steps=(), relearning_steps=(), enable_fuzzing=False)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("review times must be timezone-aware")
    return at.astimezone(UTC)


def _last_review(card: Card) -> datetime | None:
    """An item migrated from SM-2 without a last review (rows from before 0008): its interval ended at due_at."""
    if card.last_review is not None or card.stability is None:
        return card.last_review
    return card.due - timedelta(days=card.stability)


def _to_fsrs(card: Card) -> FsrsCard:
    last = _last_review(card)
    return FsrsCard(
        card_id=0,  # never used: the item's key is (learner, question); 0 spares fsrs reading the wall clock
        state=State.Review if card.stability is not None else State.Learning,
        step=None if card.stability is not None else 0,
        stability=card.stability,
        difficulty=card.difficulty,
        due=_utc(card.due),
        last_review=_utc(last) if last is not None else None,
    )


def _on_day_grid(card: Card, at: datetime) -> datetime:
    """FSRS counts whole days since the last review (timedelta.days). A WhatsApp review comes at lesson time, a few
    minutes short of 24 hours after yesterday's quiz answer, which fsrs would count as the same day (0 days: no
    forgetting, a same-day step). So the time since the last review is rounded to the nearest day: fsrs is given
    the last review plus that many days (the real time when under 12 hours, a same-day review), and the card's
    due date is moved back by the same few minutes."""
    last = _last_review(card)
    if last is None:
        return at
    days = round((at - last).total_seconds() / 86400)
    return _utc(last) + timedelta(days=days) if days >= 1 else at


def elapsed_days(card: Card, at: datetime) -> float | None:
    """Whole days since the card's last review as FSRS counts them here (rounded); None: never reviewed."""
    last = _last_review(card)
    if last is None:
        return None
    return float(max(0, (_on_day_grid(card, _utc(at)) - _utc(last)).days))


def retrievability(card: Card, at: datetime, *, desired_retention: float = DEFAULT_RETENTION) -> float | None:
    """The predicted chance that the learner recalls this question at `at` (None: never reviewed)."""
    if card.stability is None:
        return None
    at = _utc(at)
    return float(scheduler(desired_retention).get_card_retrievability(_to_fsrs(card), _on_day_grid(card, at)))


def review(card: Card | None, given: int, at: datetime, *, desired_retention: float = DEFAULT_RETENTION) -> Outcome:
    """One recall rated `given` (see rating()) at `at`, through fsrs.Scheduler.review_card: the card after it."""
    at = _utc(at)
    before = card
    current = card if card is not None else Card(due=at)
    grid = _on_day_grid(current, at)
    predicted = retrievability(current, at, desired_retention=desired_retention)
    after, _log = scheduler(desired_retention).review_card(_to_fsrs(current), Rating(given), review_datetime=grid)
    right = given != AGAIN
    return Outcome(
        before=before,
        card=Card(
            due=after.due + (at - grid),
            stability=after.stability,
            difficulty=after.difficulty,
            last_review=at,
            repetitions=current.repetitions + 1 if right else 0,
            lapses=current.lapses if right else current.lapses + 1,
        ),
        rating=given,
        retrievability=predicted,
        elapsed_days=elapsed_days(current, at) if before is not None else None,
    )


def from_sm2(interval_days: float, ease: float) -> tuple[float, float]:
    """An SM-2 item as an FSRS card (migration 0015 does the same in SQL): stability is the SM-2 interval, since
    FSRS's interval at 90 % retention equals the stability, so the item keeps its due date and its pace; difficulty
    from ease, anchored so that an item after one lapse (ease 1.96) gets FSRS's own difficulty after one Again
    (6.4) and the lowest ease (1.3) the hardest (10): difficulty = 17 - 5.4 × ease, within 1–10."""
    stability = max(float(interval_days), 0.01)
    difficulty = min(10.0, max(1.0, 17.0 - 5.4 * float(ease)))
    return stability, difficulty
