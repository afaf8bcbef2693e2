"""The teacher's dashboard: today live, whole-number charts, one jobs count, classes and courses, learners at risk
with a one-click nudge; and the course page's per-lesson and wrong-answer figures."""

from __future__ import annotations

import re
from datetime import timedelta

import diskcache
import pytest
from sanic_testing.testing import SanicASGITestClient

from coachbox.admin import charts
from coachbox.content.importer import import_folder
from coachbox.jobs.queue import create_huey
from coachbox.store import dashboard as board
from tests.admin.conftest import add_learner, csrf_from, signed_in
from tests.admin.test_course_learning import _learners
from tests.conversation.conftest import Driver
from tests.conversation.test_checkin import content  # noqa: F401  (the one-lesson course with a check-in)

pytestmark = pytest.mark.anyio


def _stat(html: str, label: str) -> str:
    """The number of the tile labelled `label`."""
    found = re.search(r"<b[^>]*>([^<]*)</b><span>" + re.escape(label), html)
    assert found, label
    return found.group(1)


async def test_today_is_live_before_any_nightly_roll_up(app, client, cast, conn, settings, clock):
    import_folder(conn, settings.content_dir, settings, progress=None)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    cache = diskcache.Cache(str(settings.cache_dir))
    driver = Driver(conn, cache, settings, clock)
    driver.onboard()  # through the real engine: the first lesson goes out today
    cache.close()
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    html = page.text
    assert _stat(html, "learners wrote today") == "1"
    assert _stat(html, "lessons delivered today") == "1"
    assert "Today · delivered: 1" in html  # the charts' last bar is today, read live
    assert "Today · active: 1" in html
    assert 'id="day-one"' not in html  # something to chart on day one


async def test_day_one_says_what_will_appear_and_charts_count_whole_people(app, client, cast, conn):
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    assert 'id="day-one"' in page.text and "Nothing to chart yet" in page.text
    assert "No learner has written yet." in page.text and "No lesson delivered yet." in page.text
    # A row of zero-value roll-ups is still nothing to chart (the old note vanished once such rows existed).
    conn.execute("INSERT INTO daily_stats (date, metric, value) VALUES ('2026-03-01', 'opt_outs', 0)")
    _, page = await client.get("/admin/")
    assert "No learner has written yet." in page.text
    # One learner: ticks 0 and 1, never 0.2 of a person.
    svg = charts.bars("Active", ["a", "b"], {"active": [0, 1]}, whole=True)
    ticks = re.findall(r'text-anchor="end" fill="#4d5560">([^<]+)</text>', svg)
    assert ticks == ["0", "1"]
    assert charts._whole_ticks(7) == (8, 2) and charts._whole_ticks(17) == (20, 5)


async def test_the_dashboard_and_operations_read_the_same_jobs_count(app, client, cast, services, settings):
    services.huey = create_huey(settings)  # a real queue file instead of the tests' immediate one
    for _ in range(7):
        services.huey.storage.enqueue(b"task", priority=0)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/")
    assert '<b data-key="jobs_waiting" id="jobs-waiting">7</b>' in page.text
    _, ops = await client.get("/admin/operations")
    assert "<dt>Jobs waiting</dt><dd>7</dd>" in ops.text
    _, stream = await client.get("/admin/events/dashboard?once=1")
    assert '"jobs_waiting": "7"' in stream.text  # the tile updates live, so an open dashboard never goes stale
    services.huey.storage.flush_queue()
    _, stream = await client.get("/admin/events/dashboard?once=1")
    assert '"jobs_waiting": "0"' in stream.text


async def test_classes_and_courses_show_the_nightly_roll_up(app, client, cast, conn, settings):
    import_folder(conn, settings.content_dir, settings, progress=None)
    course_id, title = conn.execute("SELECT id, title FROM courses ORDER BY id LIMIT 1").fetchone()
    add_learner(conn, cohort="Form 2A")
    add_learner(conn, phone="+254700000002", cohort="Form 2B")
    rows = [
        ("2026-02-28", 0, "Form 2A", "active_learners", 1),
        ("2026-03-01", 0, "Form 2A", "active_learners", 1),
        ("2026-03-01", 0, "Form 2A", "lessons_completed", 2),
        ("2026-03-01", 0, "Form 2A", "quiz_average", 75),
        ("2026-03-01", course_id, "", "lessons_delivered", 3),
        ("2026-03-01", course_id, "", "lessons_completed", 2),
        ("2026-03-01", course_id, "", "quiz_average", 75),
        ("2026-02-20", course_id, "", "lessons_delivered", 50),  # older than 7 days: not counted
    ]
    conn.executemany("INSERT INTO daily_stats (date, course_id, cohort, metric, value) VALUES (?, ?, ?, ?, ?)", rows)
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    classes = page.text.split('id="classes-h"')[1].split("</table>")[0]
    assert ">Form 2A</a></td><td>1</td><td>0.3</td><td>2</td><td>75%</td>" in classes
    assert ">Form 2B</a></td><td>1</td><td>0.0</td><td>0</td><td>—</td>" in classes  # a quiet class shows too
    courses = page.text.split('id="courses-h"')[1].split("</table>")[0]
    assert (
        f'<a href="/admin/courses/{course_id}#learning-h">{title}</a></td><td>3</td><td>2</td><td>75%</td>' in courses
    )


def _at_risk_learners(conn, clock):
    now = clock.now()
    silent = add_learner(conn, name="Silent Sam", last_inbound_at=(now - timedelta(days=4)).isoformat())
    gone = add_learner(conn, phone="+254700000002", last_inbound_at=(now - timedelta(days=60)).isoformat())
    fine = add_learner(conn, phone="+254700000003", last_inbound_at=(now - timedelta(hours=5)).isoformat())
    failing = add_learner(
        conn, name="Failing Fatuma", phone="+254700000004", last_inbound_at=(now - timedelta(hours=3)).isoformat()
    )
    conn.execute(
        "INSERT INTO courses (id, slug, language, title, created_at, updated_at) VALUES (90, 'c', 'en', 'C', '', '')"
    )
    for position in (1, 2, 3):
        conn.execute(
            "INSERT INTO lessons (id, course_id, slug, position, title, body, created_at, updated_at) "
            "VALUES (?, 90, ?, ?, 'L', 'b', '', '')",
            (900 + position, f"l{position}", position),
        )
    conn.execute("UPDATE learners SET current_course_id = 90")
    # Fatuma failed her last two quizzes; the "fine" learner failed one then passed one.
    for learner, lesson, day, passed in (
        (failing, 901, "2026-02-27", 1),
        (failing, 902, "2026-02-28", 0),
        (failing, 903, "2026-03-01", 0),
        (fine, 901, "2026-02-28", 0),
        (fine, 902, "2026-03-01", 1),
    ):
        conn.execute(
            """INSERT INTO progress (learner_id, lesson_id, delivered_at, completed_at, completed_local_date, correct,
                                     total, passed) VALUES (?, ?, ?, ?, ?, ?, 3, ?)""",
            (learner, lesson, f"{day}T05:00:00+00:00", f"{day}T06:00:00+00:00", day, 3 if passed else 1, passed),
        )
    return silent, gone, fine, failing


async def test_learners_at_risk_are_listed_and_nudged_once_through_the_outbox(app, client, cast, conn, clock):
    silent, gone, fine, failing = _at_risk_learners(conn, clock)
    found = board.at_risk(conn, clock.now(), "2026-03-02", ("1", []))
    assert [r["id"] for r in found["silent"]] == [silent]  # 60 days silent is gone, not at risk
    assert [(r["id"], r["correct"], r["total"]) for r in found["failing"]] == [(failing, 2, 6)]
    assert board.at_risk(conn, clock.now(), "2026-03-02", ("0", []))["silent"] == []  # the scope applies

    viewer = SanicASGITestClient(app)
    await signed_in(viewer, "charlie@school.test")  # a viewer sees the list, without the button
    _, page = await viewer.get("/admin/")
    assert (
        "Silent Sam" in page.text
        and "Failing Fatuma" in page.text
        and "2 quizzes failed: 2 of 6 answers right" in page.text
    )
    assert "/admin/dashboard/nudge/" not in page.text

    token = await signed_in(client, "bob@school.test")
    _, page = await client.get("/admin/")
    assert f'action="/admin/dashboard/nudge/{silent}"' in page.text
    for _ in range(2):  # a double click
        _, response = await client.post(
            f"/admin/dashboard/nudge/{silent}", data={"csrf_token": token, "why": "silent"}, follow_redirects=False
        )
        assert response.status_code == 303
    assert response.headers["location"] == "/admin/?done=nudged_already#at-risk-h"
    sent = conn.execute(
        "SELECT body, kind, template_key, status FROM messages WHERE learner_id = ?", (silent,)
    ).fetchall()
    assert len(sent) == 1
    body, kind, template_key, status = sent[0]
    assert body.startswith("👋 Hi Silent, your teacher here.") and (kind, template_key) == ("admin", "admin")
    audits = conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'learner.teacher_nudge'").fetchone()[0]
    assert audits == 1
    _, page = await client.get("/admin/")
    assert "Nudged today ✓" in page.text and f'action="/admin/dashboard/nudge/{silent}"' not in page.text

    _, response = await client.post(
        f"/admin/dashboard/nudge/{failing}", data={"csrf_token": token, "why": "failing"}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin/?done=nudged#at-risk-h"
    (body,) = conn.execute("SELECT body FROM messages WHERE learner_id = ?", (failing,)).fetchone()
    assert "The last quizzes were hard" in body

    _, page = await viewer.get("/admin/account")
    _, response = await viewer.post(
        f"/admin/dashboard/nudge/{fine}",
        data={"csrf_token": csrf_from(page.text), "why": "silent"},
        follow_redirects=False,
    )
    assert response.status_code == 403


async def test_the_course_page_shows_each_lesson_and_the_common_wrong_answers(
    app,
    client,
    cast,
    conn,
    settings,
    clock,
    content,  # noqa: F811
):
    course_id = _learners(conn, settings, clock, content)
    (lesson,) = board.lesson_completion(conn, course_id)
    assert (lesson["delivered"], lesson["completed"]) == (4, 3) and lesson["median_minutes"] is not None
    wrong = board.common_wrong_answers(conn, course_id)
    assert [answers for answers in wrong.values()] == [[("true", 1)]]
    await signed_in(client, "charlie@school.test")
    _, page = await client.get(f"/admin/courses/{course_id}")
    lessons = page.text.split('id="lesson-completion-h"')[1].split("</table>")[0]
    assert "<td>4</td>\n      <td>75% (3)</td>" in lessons
    questions = page.text.split('id="difficulty-h"')[1].split("</table>")[0]
    assert '<td class="wrong"><span>“true” <span class="hint">(1)</span></span></td>' in questions


async def test_a_teacher_limited_to_a_class_sees_only_its_learners_and_its_row(app, client, cast, conn, clock):
    from coachbox.store import classes

    silent, _gone, _fine, failing = _at_risk_learners(conn, clock)
    for name in ("Form 2A", "Form 2B"):
        classes.create(conn, name, clock.now())
    classes.add_learner(conn, silent, "Form 2A", clock.now())
    classes.add_learner(conn, failing, "Form 2B", clock.now())
    classes.set_for_admin(conn, cast["charlie@school.test"], ["Form 2A"])
    conn.execute(
        "INSERT INTO daily_stats (date, cohort, metric, value) VALUES ('2026-03-01', 'Form 2B', 'active_learners', 1)"
    )
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/")
    assert "Silent Sam" in page.text and "Failing Fatuma" not in page.text
    table = page.text.split('id="classes-h"')[1].split("</section>")[0]
    assert "Form 2A" in table and "Form 2B" not in table


def test_wrong_answers_and_times_read_as_a_teacher_says_them():
    from coachbox.admin.learning import answer_label, duration

    assert answer_label("C", "choice", '["SIM", "Provider", "Agent\'s shop"]') == "C: Agent's shop"
    assert answer_label("D", "choice", '["SIM", "Provider"]') == "D"  # no such choice: as given
    assert answer_label("true", "true_false", "[]") == "true"
    assert [duration(m) for m in (None, 0.2, 12.4, 200, 60 * 24 * 3)] == [
        "—",
        "under a minute",
        "12 min",
        "3 h 20 min",
        "3 days",
    ]
