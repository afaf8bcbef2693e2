"""The course page's "Is anyone learning?" figures: the funnel, per-question difficulty and the check-in's gain."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from markupsafe import Markup

from coachbox.admin import charts
from coachbox.core.services import Services
from coachbox.store import checkins, stats

# Live queries, kept for a few minutes: at 10,000 learners the section costs ~180 ms on the writer thread
# (bench/course_stats_bench.py), which every learner's turn queues behind; a teacher reloading the page should not.
CACHE_SECONDS = 300
HARD_BELOW = 0.5  # a question fewer than half get right at their first try is marked hard on the page
MIN_ANSWERS = 5  # below this many learners a share says little: shown, but never marked hard


@dataclass(frozen=True)
class CourseLearning:
    funnel: list[tuple[str, int]]
    funnel_chart: Markup
    questions: list[dict]
    checkin_prompts: list[str]
    gains: list[checkins.Gain]
    gain_chart: Markup | None
    as_of: str = ""  # ISO time the figures were read


async def figures(services: Services, course: sqlite3.Row) -> CourseLearning:
    """The section's figures, from the cache when read in the last CACHE_SECONDS, else live."""
    key = f"admin:course-learning:{course['id']}"
    found = services.cache.get(key)
    if isinstance(found, CourseLearning):
        return found
    loaded = await services.db.run(load, course, services.clock.now().isoformat())
    services.cache.set(key, loaded, expire=CACHE_SECONDS)
    return loaded


def load(conn: sqlite3.Connection, course: sqlite3.Row, as_of: str = "") -> CourseLearning:
    """Everything the section shows, read live (docs/admin.md: about 60 ms on a 10,000-learner box)."""
    course_id = course["id"]
    funnel = stats.course_funnel(conn, course_id)
    questions = []
    for row in stats.question_difficulty(conn, course_id):
        share = row["right_first"] / row["answered"] if row["answered"] else None
        questions.append(
            {
                **dict(row),
                "share": share,
                "hard": share is not None and row["answered"] >= MIN_ANSWERS and share < HARD_BELOW,
            }
        )
    prompts = [item.get("prompt", "") for item in json.loads(course["checkin"] or "[]")]
    gains = checkins.learning_gain(conn, course_id, len(prompts))
    shown = [g for g in gains if g.learners]
    gain_chart = None
    if shown:
        labels = ["All classes" if g.cohort is None else (g.cohort or "No class") for g in shown]
        gain_chart = charts.bars(
            "Share of check-in answers right, before lesson 1 and after the last lesson",
            labels,
            {
                "before": [round(100 * (g.share_before or 0), 1) for g in shown],
                "after": [round(100 * (g.share_after or 0), 1) for g in shown],
            },
            unit="%",
            colors=("#E69F00", "#0072B2"),
            width=460,
            height=200,
        )
    return CourseLearning(
        funnel=funnel,
        funnel_chart=charts.hbars("Learners at each step of the course", funnel, width=400, label_width=140),
        questions=questions,
        checkin_prompts=prompts,
        gains=gains,
        gain_chart=gain_chart,
        as_of=as_of,
    )
