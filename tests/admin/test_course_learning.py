"""The course page's "Is anyone learning?": funnel, question difficulty and the check-in's gain per class."""

from __future__ import annotations

import diskcache
import pytest

from coachbox.content.importer import import_folder
from coachbox.store import progress, stats
from tests.admin.conftest import signed_in
from tests.conversation.conftest import Driver
from tests.conversation.test_checkin import content  # noqa: F401  (the one-lesson course with a check-in)

pytestmark = pytest.mark.anyio


def _learners(conn, settings, clock, content):
    """Four learners through the real engine: two in Form 2A do it all (wrong before, right after), one in 2B
    skips the check-in and fails the quiz, one in 2B stops after the check-in before lesson 1."""
    import_folder(conn, content, settings, progress=None)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    cache = diskcache.Cache(str(settings.cache_dir))
    scripts = {  # lean days: the lesson asks its quiz's question itself
        "+254700000001": ("Form 2A", ["true", "A", "false", "false", "B"]),
        "+254700000002": ("Form 2A", ["true", "B", "false", "false", "A"]),
        "+254700000003": ("Form 2B", ["skip", "true"]),
        "+254700000004": ("Form 2B", ["false", "B"]),
    }
    for phone, (cohort, lines) in scripts.items():
        driver = Driver(conn, cache, settings, clock, phone=phone)
        driver.onboard()
        conn.execute("UPDATE learners SET cohort = ? WHERE id = ?", (cohort, driver.learner_id))
        for said in lines:
            driver.say(said)
    cache.close()
    return conn.execute("SELECT id FROM courses WHERE slug = 'tiny'").fetchone()[0]


def test_the_funnel_counts_learners_at_each_step(conn, settings, clock, content):  # noqa: F811
    course_id = _learners(conn, settings, clock, content)
    assert stats.course_funnel(conn, course_id) == [
        ("started", 4),
        ("lesson 1 delivered", 4),
        ("quiz taken", 3),
        ("passed a quiz", 2),
        ("finished", 3),
    ]
    (question,) = stats.question_difficulty(conn, course_id)
    assert (question["answered"], question["right_first"]) == (3, 2)
    # A retake right after a wrong first answer changes nothing: only the first try counts.
    wrong = conn.execute("SELECT learner_id FROM answers WHERE correct = 0").fetchone()[0]
    progress.record_answer(conn, wrong, question["id"], "false", True, clock.now())
    (question,) = stats.question_difficulty(conn, course_id)
    assert (question["answered"], question["right_first"]) == (3, 2)


async def test_the_course_page_shows_the_funnel_difficulty_and_gain_per_class(
    app,
    client,
    cast,
    conn,
    settings,
    clock,
    content,  # noqa: F811
):
    course_id = _learners(conn, settings, clock, content)
    await signed_in(client, "charlie@school.test")  # a viewer sees the figures too
    _, page = await client.get(f"/admin/courses/{course_id}")
    assert page.status_code == 200
    html = page.text
    assert "Is anyone learning?" in html and "Learners at each step of the course" in html
    assert "You may tell the agent your PIN." in html and "67%" in html  # 2 of 3 right at the first try
    rows = html.split('id="gain-h"')[1].split("</tbody>")[0]
    assert (
        "<b>All classes</b></td>\n      <td>2</td>\n      <td>25%</td>\n      <td>75%</td>\n      <td>+50</td>\n      <td>1</td>"
        in rows
    )
    assert "<td>Form 2A</td>\n      <td>2</td>" in rows and "<td>Form 2B</td>\n      <td>0</td>" in rows


async def test_a_course_nobody_started_says_so_instead_of_empty_charts(
    app, client, cast, conn, settings, clock, content
):  # noqa: F811
    _learners(conn, settings, clock, content)
    swahili = conn.execute("SELECT id FROM courses WHERE slug = 'tiny-sw'").fetchone()[0]
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/courses/{swahili}")
    assert "No learner has started this course yet." in page.text
    assert "No learner has answered the 2 check-in questions both before and after yet" in page.text
    assert "Learners at each step of the course" not in page.text
    assert "No quiz question of this course has been answered yet." in page.text
