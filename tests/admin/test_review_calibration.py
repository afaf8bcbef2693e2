"""The course page's review calibration: FSRS's predicted recall at review time against the share answered right."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from coachbox.learning.review import AGAIN, GOOD
from coachbox.store import reviews
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
T0 = datetime.fromisoformat("2026-03-02T04:05:00+00:00")
_phones = itertools.count(1)


def _course(conn, title="Digital money") -> tuple[int, list[int]]:
    x = "2026-03-01T00:00:00+00:00"
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES (?, 'en', ?, ?, ?)",
        (title.lower().replace(" ", "-"), title, x, x),
    ).lastrowid
    lesson = conn.execute(
        """INSERT INTO lessons (course_id, slug, position, title, body, created_at, updated_at)
           VALUES (?, 'l1', 1, 'Lesson 1', 'body', ?, ?)""",
        (course, x, x),
    ).lastrowid
    questions = [
        conn.execute(
            "INSERT INTO questions (lesson_id, position, kind, prompt, answer) VALUES (?, ?, 'true_false', 'Q', 'true')",
            (lesson, n),
        ).lastrowid
        for n in range(2)
    ]
    return course, questions


def _reviewed(conn, questions, learners: int, right_every: int, *, after_days: int) -> None:
    """Each learner gets both questions wrong at T0, then answers them `after_days` later: right unless their
    number is a multiple of right_every."""
    for n in range(learners):
        learner = add_learner(conn, name=f"L{n}", phone=f"+2547000{next(_phones):05d}")
        for question in questions:
            reviews.record_review(conn, learner, question, AGAIN, T0)
            given = AGAIN if right_every and n % right_every == 0 else GOOD
            reviews.record_review(conn, learner, question, given, T0 + timedelta(days=after_days))


def test_it_bins_predicted_recall_against_the_share_answered_right(conn):
    course, questions = _course(conn)
    other, other_questions = _course(conn, "Other course")
    _reviewed(conn, questions, 10, 5, after_days=1)  # predicted ~77 %: 8 of 10 right
    _reviewed(conn, questions[:1], 4, 0, after_days=3)  # predicted ~60 %: all right
    _reviewed(conn, other_questions, 3, 0, after_days=1)  # another course's reviews stay out
    _reviewed(conn, questions, 2, 0, after_days=0)  # a same-day retry (a quiz retake): predicted 100 %, left out
    bins = reviews.calibration(conn, course)
    assert [(b.low, b.high, b.reviews) for b in bins] == [(0.6, 0.7, 4), (0.7, 0.8, 20)]
    assert bins[1].actual == 0.8 and bins[0].actual == 1.0
    assert 0.7 <= bins[1].predicted < 0.8 and 0.6 <= bins[0].predicted < 0.7
    # The first review of each card predicts nothing and is not counted; it is logged all the same.
    assert conn.execute("SELECT COUNT(*) FROM review_log WHERE retrievability IS NULL").fetchone()[0] == 34
    assert conn.execute("SELECT COUNT(*) FROM review_log WHERE elapsed_days < 1").fetchone()[0] == 4
    assert reviews.calibration(conn, other)[0].reviews == 6


async def test_the_course_page_shows_the_calibration_chart(app, client, cast, conn):
    course, questions = _course(conn)
    await signed_in(client, "charlie@school.test")  # a viewer sees it too
    _, page = await client.get(f"/admin/courses/{course}")
    assert "Does review work?" in page.text and "No review question of this course has been answered yet" in page.text

    _reviewed(conn, questions, 10, 5, after_days=1)
    _, page = await client.get(f"/admin/courses/{course}")
    assert (
        "20 review answers" in page.text and "the schedule predicted <b>77%</b> right, and <b>80%</b> were" in page.text
    )
    assert "Prediction and outcome agree" in page.text and "Fewer than 100 answers" in page.text
    assert page.text.count("<circle") == 1 and "predicted 77%, right 80%, 20 reviews" in page.text
    assert "<td>70–80%</td><td>20</td><td>77%</td><td>80%</td>" in page.text
