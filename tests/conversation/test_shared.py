"""A batch's shared answers (Turn.shared, made once per fan-out batch): every learner's decision is the one it would
be without them, and a text that names the learner is never shared."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from coachbox.conversation.engine import Rules, handle
from coachbox.conversation.events import DeliverDailyLesson
from coachbox.conversation.state import State
from coachbox.conversation.texts import Texts
from coachbox.learning.learner import Enrollment, Learner, Review
from coachbox.learning.progress import LessonResult
from tests.conftest import REPO
from tests.conversation.builders import catalogue

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 08:00 in Nairobi, after the 07:00 lesson time
TEXTS = Texts.load(REPO / "content" / "locales")
WRITTEN = "2026-03-02T02:00:00+00:00"  # the window stays open well past the lesson
BASE = Learner(
    id=1,
    name="Amina Wanjiru",
    language="en",
    status="active",
    current_course_id=1,
    enrollments=(Enrollment(1, next_position=1),),
    created_at="x",
    last_inbound_at=WRITTEN,
)


def learners() -> list[Learner]:
    """A batch as varied as a fan-out's: names, languages, lessons, zones, a retry, a review, outside the window."""
    return [
        BASE,
        replace(BASE, id=2, name="Baraka", enrollments=(Enrollment(1, next_position=2),)),
        replace(BASE, id=3, name=None, profile_name="Chebet K"),
        replace(BASE, id=4, name="Daudi", language="sw", current_course_id=2, enrollments=(Enrollment(2),)),
        replace(BASE, id=5, name="Esther", timezone="Africa/Lagos", lesson_time="06:30"),
        replace(BASE, id=6, name="Faith", lesson_time="09:00"),  # before its lesson time: sent early
        replace(
            BASE,
            id=7,
            name="Grace",
            results=(LessonResult(110, 1, 1, 3, False, "2026-03-01", missed=(112, 113)),),
        ),
        replace(BASE, id=8, name="Hassan", review=Review(due=(111, 112))),
        replace(BASE, id=9, name="Imani", last_inbound_at="2026-03-01T04:00:00+00:00"),  # held: a nudge instead
        replace(BASE, id=10, name="Juma", enrollments=(Enrollment(1, next_position=4),)),  # the course is done
        BASE,  # the same learner twice in a batch: the shared answers are found, not made
    ]


RULES = [
    Rules(),
    Rules(quiz_style="one_message"),
    Rules(lean_days=False),
    Rules(buttons=True, message_limit=4096),
]
CATALOGUE = catalogue()


def daily(learner: Learner, texts: Texts, rules: Rules, shared: dict | None = None):
    return handle(DeliverDailyLesson(), State(), learner, CATALOGUE, texts, NOW, rules, shared)


@pytest.mark.parametrize("rules", RULES, ids=["per_question", "one_message", "not_lean", "buttons"])
def test_it_decides_each_learner_as_without_shared_answers(rules):
    shared: dict = {}
    for learner in learners():
        assert daily(learner, TEXTS, rules, shared) == daily(learner, TEXTS, rules), learner.id
    assert shared, "nothing was shared"


def _naming(key: str) -> Texts:
    """The locales with one English text that names the learner."""
    locales = {code: dict(table) for code, table in TEXTS.locales.items()}
    locales["en"][key] = "{name}: " + str(locales["en"][key])
    return Texts(locales)


@pytest.mark.parametrize(
    "rules, key",
    [
        (Rules(), "quiz.intro"),
        (Rules(), "quiz.question"),
        (Rules(), "quiz.how_choice"),
        (Rules(), "lesson.header"),
        (Rules(quiz_style="one_message"), "quiz.batch_intro"),
        (Rules(quiz_style="one_message"), "quiz.batch_item"),
        (Rules(lean_days=False), "lesson.quiz_invite"),
    ],
)
def test_it_never_shares_a_text_that_names_the_learner(rules, key):
    texts, shared = _naming(key), {}
    for learner in learners():
        assert daily(learner, texts, rules, shared) == daily(learner, texts, rules), learner.id
    # Two learners on the same lesson, after the batch above: each one's own name, never the other's.
    for name, other in (("Amina", "Baraka"), ("Baraka", "Amina")):
        said = "\n".join(r.text for r in daily(replace(BASE, name=name), texts, rules, shared).replies)
        assert f"{name}: " in said
        assert other not in said
