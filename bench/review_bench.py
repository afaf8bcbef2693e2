"""Review scheduling: FSRS-6 (coachbox.learning.review) against the SM-2 it replaced, on simulated learners.

Run: .venv/bin/python bench/review_bench.py [--learners 2000] [--days 90] [--seed 7] [--curve power] [--quick]
Prints one JSON object per line (SM-2 first, then FSRS at several desired retentions, then FSRS at the retention
that gives the same mean recall as SM-2); exits 1 when FSRS asks more review questions than SM-2 for that recall. Figures: docs/performance.md#review-scheduling.

The learners' memory is known, and is not FSRS's own model (so FSRS is not graded by its own curve):
- exponential forgetting: the chance of recall t days after the last review is 0.9 ** (t / S), S the item's true
  stability for that learner (recall is 90 % after S days); `--curve power` uses 1 / (1 + t / 9S) instead;
- a question answered wrong in a lesson's quiz (the only way into review, as in coachbox) starts with S drawn
  log-normally around 1 day (the learner has just read the right answer and its explanation);
- a successful recall multiplies S by 1 + G * (1 - R) / 0.1, with R the chance of recall at that moment (the
  spacing effect: a recall that was hard to make strengthens memory more) and G per learner and question
  (log-normal around 1.5: easy items grow faster); a failed recall divides S by 3 (at least half a day).
The course is coachbox's shape: a lesson a day for 7 days, 3 questions each, each wrong at the quiz with a chance
drawn per learner (10-60 %). Every day at lesson time the questions due that day are asked, oldest first, at most
review_per_day (3), as the box does; the rest wait. Answers are right with the true chance of recall. Both
schedulers see exactly the same learners, questions and random draws.

Measured: review questions asked in the period; recall = the mean true chance of recall of every question in
review, averaged over the days (what a learner would get right on a surprise quiz on a random day); and the
recall on the last day. SM-2 is the code coachbox used before, kept here only as the baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coachbox.learning import review as fsrs_review  # noqa: E402

START = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 07:00 in Nairobi
LESSONS, QUESTIONS, REVIEW_PER_DAY = 7, 3, 3


# -- the baseline: SM-2 exactly as coachbox.learning.review had it (quality 4 right, 1 wrong) --------------------
@dataclass(frozen=True)
class Sm2Card:
    interval_days: float = 0.0
    ease: float = 2.5
    repetitions: int = 0
    lapses: int = 0


def sm2(card: Sm2Card, quality: int) -> Sm2Card:
    ease = max(1.3, card.ease + 0.1 - (5 - quality) * (0.08 + (5 - quality) * 0.02))
    if quality < 3:
        return Sm2Card(interval_days=1.0, ease=ease, repetitions=0, lapses=card.lapses + 1)
    repetitions = card.repetitions + 1
    interval = 1.0 if repetitions == 1 else 6.0 if repetitions == 2 else round(card.interval_days * ease, 1)
    return replace(card, interval_days=interval, ease=ease, repetitions=repetitions)


class Sm2Scheduler:
    name = "SM-2 (before)"

    def start(self, at: datetime):
        card = sm2(Sm2Card(), 1)
        return card, at + timedelta(days=card.interval_days)

    def answer(self, card, right: bool, at: datetime):
        card = sm2(card, 4 if right else 1)
        return card, at + timedelta(days=card.interval_days)


class FsrsScheduler:
    def __init__(self, retention: float) -> None:
        self.retention = retention
        self.name = f"FSRS-6 (retention {retention})"

    def start(self, at: datetime):
        card = fsrs_review.review(None, fsrs_review.AGAIN, at, desired_retention=self.retention).card
        return card, card.due

    def answer(self, card, right: bool, at: datetime):
        given = fsrs_review.rating(right)
        card = fsrs_review.review(card, given, at, desired_retention=self.retention).card
        return card, card.due


# -- the learners -------------------------------------------------------------------------------------------------
@dataclass
class Item:
    enters_day: int  # the day of the quiz it was answered wrong in
    stability: float  # the true memory
    growth: float
    last_day: float  # when the learner last saw it (true memory's clock)
    card: object = None
    due: datetime | None = None


def _learners(count: int, seed: int) -> list[list[tuple[int, float, float]]]:
    """Per learner, the questions they get wrong at the quiz: (day, initial stability, growth). Drawn once."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        wrong_rate = rng.uniform(0.1, 0.6)
        items = []
        for day in range(LESSONS):
            for _q in range(QUESTIONS):
                if rng.random() < wrong_rate:
                    items.append((day, rng.lognormvariate(0.0, 0.5), rng.lognormvariate(math.log(1.5), 0.4)))
        out.append(items)
    return out


CURVE = {"exponential": lambda t, s: 0.9 ** (t / s), "power": lambda t, s: 1 / (1 + t / (9 * s))}
_curve = CURVE["exponential"]


def _recall(item: Item, day: float) -> float:
    return _curve(max(0.0, day - item.last_day), item.stability)


def simulate(scheduler, learners, days: int, seed: int) -> dict:
    asked = right = 0
    daily_recall = []
    last_recall = 0.0
    for index, drawn in enumerate(learners):
        rng = random.Random(seed * 1_000_003 + index)  # the same answers' random draws for every scheduler
        items: list[Item] = []
        pending = list(drawn)
        for day in range(days):
            now = START + timedelta(days=day)
            # The day's review first (it holds the lesson), then the lesson and its quiz five minutes later.
            end_of_day = START + timedelta(days=day + 1) - timedelta(hours=4)  # local midnight (UTC+3)
            due = sorted((i for i in items if i.due is not None and i.due < end_of_day), key=lambda i: i.due)
            for item in due[:REVIEW_PER_DAY]:
                chance = _recall(item, day)
                ok = rng.random() < chance
                asked += 1
                right += ok
                if ok:
                    item.stability *= 1 + item.growth * (1 - chance) / 0.1
                else:
                    item.stability = max(0.5, item.stability / 3)
                item.last_day = day
                item.card, item.due = scheduler.answer(item.card, ok, now)
            while pending and pending[0][0] == day:
                _, stability, growth = pending.pop(0)
                item = Item(day, stability, growth, day + 5 / 1440)
                item.card, item.due = scheduler.start(now + timedelta(minutes=5))
                items.append(item)
            if items:
                daily_recall.append(sum(_recall(i, day + 0.5) for i in items) / len(items))
        if items:
            last_recall += sum(_recall(i, days) for i in items) / len(items)
    reviewing = sum(1 for drawn in learners if drawn)
    return {
        "scheduler": scheduler.name,
        "learners": len(learners),
        "days": days,
        "review_questions": asked,
        "per_learner": round(asked / max(1, reviewing), 2),
        "answered_right": round(right / max(1, asked), 3),
        "mean_recall": round(sum(daily_recall) / max(1, len(daily_recall)), 4),
        "recall_on_last_day": round(last_recall / max(1, reviewing), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="300 learners")
    parser.add_argument(
        "--curve", choices=sorted(CURVE), default="exponential", help="the true forgetting curve (power: FSRS-4.5's)"
    )
    args = parser.parse_args()
    global _curve
    _curve = CURVE[args.curve]
    learners = _learners(300 if args.quick else args.learners, args.seed)
    baseline = simulate(Sm2Scheduler(), learners, args.days, args.seed)
    print(json.dumps(baseline))
    results = {}
    for retention in (0.8, 0.85, 0.9, 0.95):
        results[retention] = simulate(FsrsScheduler(retention), learners, args.days, args.seed)
        print(json.dumps(results[retention]))
    # The same recall as SM-2: the desired retention at which FSRS's mean recall equals SM-2's (bisection), and
    # what that costs in questions.
    low, high = 0.8, 0.97
    for _ in range(8):
        middle = round((low + high) / 2, 4)
        trial = simulate(FsrsScheduler(middle), learners, args.days, args.seed)
        low, high = (middle, high) if trial["mean_recall"] < baseline["mean_recall"] else (low, middle)
    matched = simulate(FsrsScheduler(high), learners, args.days, args.seed)
    print(json.dumps({**matched, "note": "retention chosen to give SM-2's mean recall"}))
    default = results[fsrs_review.DEFAULT_RETENTION]
    fewer = matched["review_questions"] < baseline["review_questions"]
    print(
        json.dumps(
            {
                "same_recall_questions_vs_sm2": round(matched["review_questions"] / baseline["review_questions"], 3),
                "same_recall_retention": high,
                "default_0.9_questions_vs_sm2": round(default["review_questions"] / baseline["review_questions"], 3),
                "default_0.9_recall_difference": round(default["mean_recall"] - baseline["mean_recall"], 4),
                "target_met": fewer,
            }
        )
    )
    return 0 if fewer else 1


if __name__ == "__main__":
    sys.exit(main())
