"""The course page's "Is anyone learning?" figures: funnel, each lesson, each question (and its wrong answers), gain."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace

from markupsafe import Markup

from coachbox.admin import charts
from coachbox.admin.scope import LearnerScope
from coachbox.core.services import Services
from coachbox.store import checkins, stats
from coachbox.store import dashboard as board

# Read on a read connection (services.db.read), never the writer thread a learner's turn queues on, from the tallies
# the writes keep (migration 0027): ~30 ms at 100,000 learners (bench/admin_bench.py); kept a few minutes anyway.
CACHE_SECONDS = 300
HARD_BELOW = 0.5  # a question fewer than half get right at their first try is marked hard on the page
MIN_ANSWERS = 5  # below this many learners a share says little: shown, but never marked hard
# Charts 360 units wide with 13-unit text: 12 px text on a 390 px phone (see admin/dashboard.py).
CHART_WIDTH, CHART_FONT = 360, 13


@dataclass(frozen=True)
class CourseLearning:
    funnel: list[tuple[str, int]]
    funnel_chart: Markup
    questions: list[dict]
    checkin_prompts: list[str]
    gains: list[checkins.Gain]
    gain_chart: Markup | None
    as_of: str = ""  # ISO time the figures were read
    lessons: list[dict] = field(default_factory=list)  # per lesson: delivered, completed, share, median minutes


def gain_chart(gains: list[checkins.Gain]) -> Markup | None:
    """The check-in chart: before and after, for all classes and each class with learners (None: nobody yet)."""
    shown = [g for g in gains if g.learners]
    if not shown:
        return None
    labels = ["All classes" if g.cohort is None else (g.cohort or "No class") for g in shown]
    return charts.bars(
        "Share of check-in answers right, before lesson 1 and after the last lesson",
        labels,
        {
            "before": [round(100 * (g.share_before or 0), 1) for g in shown],
            "after": [round(100 * (g.share_after or 0), 1) for g in shown],
        },
        unit="%",
        colors=("#E69F00", "#0072B2"),
        width=CHART_WIDTH,
        height=220,
        font_size=CHART_FONT,
    )


def for_scope(found: CourseLearning, scope: LearnerScope) -> CourseLearning:
    """The figures a teacher limited to classes sees: the whole course's (they name no learner) and, by class,
    only their own classes beside "All classes" (admin.scope; docs/admin.md "Classes and their teachers")."""
    if scope.everyone:
        return found
    gains = [g for g in found.gains if g.cohort is None or scope.allows_class(g.cohort)]
    return replace(found, gains=gains, gain_chart=gain_chart(gains))


async def figures(services: Services, course: sqlite3.Row) -> CourseLearning:
    """The section's figures, from the cache when read in the last CACHE_SECONDS, else live."""
    key = f"admin:course-learning:{course['id']}"
    found = services.cache.get(key)
    if isinstance(found, CourseLearning):
        return found
    loaded = await services.db.read(load, course, services.clock.now().isoformat())
    services.cache.set(key, loaded, expire=CACHE_SECONDS)
    return loaded


def load(conn: sqlite3.Connection, course: sqlite3.Row, as_of: str = "") -> CourseLearning:
    """Everything the section shows, read live (docs/performance.md: about 30 ms at 100,000 learners)."""
    course_id = course["id"]
    funnel = stats.course_funnel(conn, course_id)
    questions = []
    wrong = board.common_wrong_answers(conn, course_id)
    choices = board.question_choices(conn, course_id)
    for row in stats.question_difficulty(conn, course_id):
        share = row["right_first"] / row["answered"] if row["answered"] else None
        questions.append(
            {
                **dict(row),
                "share": share,
                "hard": share is not None and row["answered"] >= MIN_ANSWERS and share < HARD_BELOW,
                "wrong": [
                    (answer_label(given, *choices.get(row["id"], ("", "[]"))), n)
                    for given, n in wrong.get(row["id"], [])
                ],
            }
        )
    prompts = [item.get("prompt", "") for item in json.loads(course["checkin"] or "[]")]
    gains = checkins.learning_gain(conn, course_id, len(prompts))
    return CourseLearning(
        funnel=funnel,
        funnel_chart=charts.hbars(
            "Learners at each step of the course", funnel, width=CHART_WIDTH, label_width=140, font_size=CHART_FONT
        ),
        questions=questions,
        checkin_prompts=prompts,
        gains=gains,
        gain_chart=gain_chart(gains),
        as_of=as_of,
        lessons=[{**row, "time": duration(row["median_minutes"])} for row in board.lesson_completion(conn, course_id)],
    )


def answer_label(given: str, kind: str, choices_json: str) -> str:
    """A stored wrong answer as a teacher reads it: a choice's letter with its text ("B: Share it with an agent")."""
    if kind == "choice" and len(given) == 1 and given.isalpha():
        options = json.loads(choices_json or "[]")
        index = ord(given.upper()) - ord("A")
        if 0 <= index < len(options):
            return f"{given.upper()}: {options[index]}"
    return given


def duration(minutes: float | None) -> str:
    """ "12 min", "3 h 20 min", "2 days": the median time from a lesson's delivery to finishing it."""
    if minutes is None:
        return "—"
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        hours, rest = divmod(round(minutes), 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{minutes / 1440:.0f} days"
