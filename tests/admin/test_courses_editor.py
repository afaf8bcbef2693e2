"""The lesson editor and course pages: a form per question kind, errors beside the field with what was typed kept,
the lesson day as the engine sends it, out-of-date translations, honest premium, confirmations, short names."""

from __future__ import annotations

import html
import re

import pytest

from coachbox.admin.lesson_preview import SAMPLE_NAME, lesson_day
from coachbox.content.importer import import_folder
from coachbox.conversation.engine import handle
from coachbox.conversation.events import DeliverDailyLesson
from coachbox.conversation.state import State
from coachbox.learning.learner import Enrollment, Learner
from coachbox.turns.runner import resources
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio


@pytest.fixture
def content(conn, settings, clock):
    import_folder(conn, settings.content_dir, settings, progress=None)
    # The importer stamps rows with the system's time; the pages here run on the test clock.
    conn.execute("UPDATE lessons SET updated_at = ?, text_changed_at = ?", (clock.now().isoformat(),) * 2)
    return {row["slug"]: row["id"] for row in conn.execute("SELECT id, slug FROM courses")}


def _lesson(conn, slug: str, position: int) -> int:
    return conn.execute(
        "SELECT l.id FROM lessons l JOIN courses c ON c.id = l.course_id WHERE c.slug = ? AND l.position = ?",
        (slug, position),
    ).fetchone()[0]


def _text(page) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.text))


async def _new_lesson(client, token, conn) -> int:
    _, created = await client.post(
        "/admin/courses", data={"title": "Savings", "language": "en", "csrf_token": token}, follow_redirects=False
    )
    course_id = int(created.headers["location"].split("/")[3].split("?")[0])
    await client.post(f"/admin/courses/{course_id}/lessons", data={"title": "Why save?", "csrf_token": token})
    return conn.execute("SELECT id FROM lessons WHERE course_id = ?", (course_id,)).fetchone()[0]


async def test_each_kind_of_question_has_its_own_fields(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    lesson_id = await _new_lesson(client, token, conn)
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    new = page.text[page.text.index('id="add-question"') :]
    assert 'name="choice-1"' in new and 'name="right"' in new  # a box per choice, the right one picked by clicking
    assert 'name="truth" value="true"' in new and 'name="truth" value="false"' in new  # the TRUE/FALSE toggle
    assert 'name="accepted"' in new and 'name="answer"' not in new  # accepted answers as a list, no number to type
    base = {"csrf_token": token, "explanation": "Because."}
    await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={
            **base,
            "kind": "choice",
            "prompt": "Where?",
            **{"choice-1": "Bank", "choice-2": "", "choice-3": "Mattress", "choice-4": "Sacco"},
            "right": "4",
        },
    )
    await client.post(
        f"/admin/lessons/{lesson_id}/questions", data={**base, "kind": "true_false", "prompt": "Save?", "truth": "true"}
    )
    await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={**base, "kind": "short", "prompt": "Say it", "accepted": "sacco\nchama\n"},
    )
    rows = conn.execute(
        "SELECT kind, choices, answer FROM questions WHERE lesson_id = ? ORDER BY position", (lesson_id,)
    )
    # The empty box is left out, and the picked box (the 4th) is the 3rd choice that remains.
    assert [tuple(r) for r in rows] == [
        ("choice", '["Bank", "Mattress", "Sacco"]', "3"),
        ("true_false", "[]", "true"),
        ("short", "[]", '["sacco", "chama"]'),
    ]
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    first = page.text[page.text.index('id="q') :]
    assert re.search(r'name="right" value="3" id="q\d+-right-3" checked', first)


async def test_a_rejected_question_keeps_what_was_typed_and_says_why_beside_the_field(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    lesson_id = await _new_lesson(client, token, conn)
    _, page = await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={
            "kind": "choice",
            "prompt": "Which is <safe>?",
            "choice-1": "Agent",
            "choice-2": "Nobody",
            "choice-3": "",
            "explanation": "Keep it secret.",
            "csrf_token": token,
        },
    )
    assert page.status_code == 400
    form = page.text[page.text.index('id="add-question"') :]
    assert 'value="Agent"' in form and 'value="Nobody"' in form and "Which is &lt;safe&gt;?" in form
    assert "Keep it secret." in form and 'data-unsaved="1"' in form
    # The problem sits right under the choices, named by them, and the first field to fix has the focus.
    assert 'aria-describedby="new-choices-err new-right-err"' in form
    assert re.search(r'id="new-right-err">Pick the right choice', form)
    assert re.search(r'id="new-right-1"[^>]* autofocus', form)
    assert "Please fix" not in page.text[: page.text.index('id="add-question"')]  # no list far away at the top
    assert conn.execute("SELECT COUNT(*) FROM questions WHERE lesson_id = ?", (lesson_id,)).fetchone()[0] == 0
    # The error page's address keeps the form in view (the form posts to …#add-question).
    assert f'action="/admin/lessons/{lesson_id}/questions#add-question"' in page.text


async def test_a_rejected_edit_of_a_question_keeps_its_typed_values(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    lesson_id = await _new_lesson(client, token, conn)
    await client.post(
        f"/admin/lessons/{lesson_id}/questions",
        data={"kind": "true_false", "prompt": "Save weekly?", "truth": "true", "csrf_token": token},
    )
    question_id = conn.execute("SELECT id FROM questions WHERE lesson_id = ?", (lesson_id,)).fetchone()[0]
    _, page = await client.post(
        f"/admin/questions/{question_id}",
        data={"kind": "short", "prompt": "Name a way to save", "accepted": "", "csrf_token": token},
    )
    assert page.status_code == 400
    form = page.text[page.text.index(f'id="q{question_id}"') : page.text.index('id="add-question"')]
    assert "Name a way to save" in form and re.search(r'value="short" class="kind-short" checked', form)
    assert f'id="q{question_id}-accepted-err">Write the accepted answers' in form
    assert conn.execute("SELECT prompt FROM questions WHERE id = ?", (question_id,)).fetchone()[0] == "Save weekly?"


async def test_a_rejected_lesson_keeps_its_text(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    lesson_id = await _new_lesson(client, token, conn)
    _, page = await client.post(
        f"/admin/lessons/{lesson_id}",
        data={"title": "", "minutes": "many", "body": "A long *text* I typed.", "csrf_token": token},
    )
    assert page.status_code == 400
    assert "A long *text* I typed." in page.text and 'value="many"' in page.text
    assert (
        'id="title-err">Give the lesson a title' in page.text
        and 'id="minutes-err">Minutes is a whole number' in page.text
    )
    assert conn.execute("SELECT body FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0] == ""


async def test_course_forms_keep_what_was_typed(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    _, page = await client.post(
        "/admin/courses",
        data={"title": "Budgeting", "language": "Swahili", "description": "Money", "csrf_token": token},
    )
    assert page.status_code == 400 and 'value="Budgeting"' in page.text and 'value="Swahili"' in page.text
    assert 'id="language-err">Use a language code' in page.text and ">Money</textarea>" in page.text
    _, created = await client.post(
        "/admin/courses", data={"title": "Budgeting", "language": "en", "csrf_token": token}, follow_redirects=False
    )
    course_id = int(created.headers["location"].split("/")[3].split("?")[0])
    _, page = await client.post(
        f"/admin/courses/{course_id}",
        data={"title": "Budgeting 2", "description": "New words", "passing_score": "170", "csrf_token": token},
    )
    assert page.status_code == 400 and 'value="Budgeting 2"' in page.text and ">New words</textarea>" in page.text
    assert 'id="c-score-err">The passing score is a whole number from 0 to 100' in page.text
    _, page = await client.post(f"/admin/courses/{course_id}/lessons", data={"title": " ", "csrf_token": token})
    assert page.status_code == 400 and 'id="lesson-title-err">Give the lesson a title' in page.text


async def test_the_preview_is_the_lesson_day_the_engine_sends(app, client, cast, conn, content, services):
    token = await signed_in(client, "bob@school.test")
    lesson_id = _lesson(conn, "mobile-money-safety", 2)
    _, page = await client.get(f"/admin/lessons/{lesson_id}")
    sequence = page.text[page.text.index('id="sequence"') : page.text.index('id="quiz"')]
    shown = html.unescape(re.sub(r"<[^>]+>", "", sequence))
    assert "📘 Lesson 2 of 7" in shown and "Keep your PIN secret" in shown
    assert "Question 1/3" in shown and "Question 3/3" in shown and "Correct!" in shown and "You scored" in shown
    assert "If Amina answers A instead" in shown and "Not quite." in shown  # each question's wrong branch
    # The first message is, to the character, what conversation.handle sends as that day's lesson.
    res = resources(services)
    catalogue = res.catalogue(conn)
    course = next(c for c in catalogue.courses if c.slug == "mobile-money-safety")
    lesson = next(item for item in course.lessons if item.position == 2)
    steps = lesson_day(course, lesson, res.texts, res.rules, services.clock.now(), catalogue.badges)
    learner = _sample_learner(course, lesson, res.rules, services.clock.now())
    decision = handle(
        DeliverDailyLesson(), State(flow="idle"), learner, catalogue, res.texts, services.clock.now(), res.rules
    )
    assert steps[0].text == decision.replies[0].text
    assert html.escape("Keep your PIN secret") in page.text and token


def _sample_learner(course, lesson, rules, now):
    return Learner(
        id=0,
        name=SAMPLE_NAME,
        language=course.language,
        timezone=rules.default_timezone,
        lesson_time=rules.default_lesson_time,
        status="active",
        current_course_id=course.id,
        enrollments=(Enrollment(course.db_id, next_position=lesson.position),),
        last_inbound_at=now.isoformat(),
        created_at=now.isoformat(),
    )


async def test_the_preview_follows_the_configured_style(app, client, cast, conn, content, services, settings):
    """Without lean days the lesson ends with the quiz invitation, and the learner's QUIZ brings the first question."""
    services.conversation = None
    services.settings = settings.replace(learning={"lean_days": False})
    await signed_in(client, "bob@school.test")
    _, page = await client.get(f"/admin/lessons/{_lesson(conn, 'mobile-money-safety', 2)}")
    sequence = html.unescape(re.sub(r"<[^>]+>", "", page.text[page.text.index('id="sequence"') :]))
    invite, reply = sequence.index("Ready for a quick quiz?"), sequence.index("Amina replies QUIZ")
    assert invite < reply < sequence.index("Question 1/3")


async def test_a_translation_older_than_its_original_says_so(app, client, cast, conn, content, clock):
    token = await signed_in(client, "bob@school.test")
    english, swahili = _lesson(conn, "mobile-money-safety", 2), _lesson(conn, "mobile-money-safety-sw", 2)
    _, page = await client.get(f"/admin/lessons/{swahili}")
    assert "up to date with it" in page.text and "Older than" not in page.text
    body = conn.execute("SELECT body FROM lessons WHERE id = ?", (english,)).fetchone()[0]
    clock.advance(hours=1)
    # Publishing or reordering is not an edit of the words: only the text (or the quiz) makes it out of date.
    await client.post(f"/admin/lessons/{english}/publish", data={"csrf_token": token})
    _, page = await client.get(f"/admin/lessons/{swahili}")
    assert "Older than" not in page.text
    await client.post(
        f"/admin/lessons/{english}",
        data={
            "title": "Keep your PIN secret",
            "minutes": "5",
            "body": body + "\n\nOne more rule.",
            "csrf_token": token,
        },
    )
    _, page = await client.get(f"/admin/lessons/{swahili}")
    assert "Older than the English lesson" in _text(page) and f'href="/admin/lessons/{english}"' in page.text
    _, page = await client.get(f"/admin/lessons/{english}")
    assert "older than this lesson: update it too" in page.text
    _, course_page = await client.get(f"/admin/courses/{content['mobile-money-safety-sw']}")
    assert "1 lesson is older than its English lesson" in _text(course_page)
    assert course_page.text.count("⚠ older than the English lesson") == 1
    # Saving the translation brings it up to date, even unchanged: the teacher checked it against the original.
    clock.advance(minutes=5)
    sw_body = conn.execute("SELECT body FROM lessons WHERE id = ?", (swahili,)).fetchone()[0]
    await client.post(
        f"/admin/lessons/{swahili}",
        data={
            "title": "Tunza siri ya PIN yako",
            "minutes": "5",
            "body": sw_body,
            "csrf_token": token,
        },
    )
    _, page = await client.get(f"/admin/lessons/{swahili}")
    assert "up to date with it" in page.text


async def test_premium_says_whether_anything_sells_it(app, client, cast, conn, content, services, settings):
    await signed_in(client, "bob@school.test")
    conn.execute("UPDATE courses SET premium = 1 WHERE slug = 'python-basics'")
    _, page = await client.get(f"/admin/courses/{content['python-basics']}")
    assert "no paid plan sells it" in page.text and "[plans.&lt;name&gt;]" in page.text
    _, listing = await client.get("/admin/courses")
    assert "premium, but free for now" in listing.text
    plan = {"title": "Premium", "price": {"KES": 20000}, "period_days": 30, "courses": "all-premium", "free_lessons": 2}
    services.settings = settings.replace(plans={"monthly": plan})
    _, page = await client.get(f"/admin/courses/{content['python-basics']}")
    assert "premium: sold by Premium; the first 2 lessons are free" in page.text


async def test_unpublishing_a_lesson_asks_and_names_the_learners_it_skips(app, client, cast, conn, content):
    token = await signed_in(client, "bob@school.test")
    course_id, lesson_id = content["mobile-money-safety"], _lesson(conn, "mobile-money-safety", 3)
    for n, next_position in enumerate((1, 3, 4)):
        learner = add_learner(conn, phone=f"+25470000010{n}")
        conn.execute(
            "INSERT INTO enrollments (learner_id, course_id, next_position, started_at) VALUES (?, ?, ?, '2026-03-01')",
            (learner, course_id, next_position),
        )
    _, asked = await client.post(f"/admin/lessons/{lesson_id}/unpublish", data={"csrf_token": token})
    assert asked.status_code == 200 and "2 learners are on Mobile Money Safety" in _text(asked)
    assert conn.execute("SELECT published FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0] == 1
    await client.post(f"/admin/lessons/{lesson_id}/unpublish", data={"csrf_token": token, "confirm": "yes"})
    assert conn.execute("SELECT published FROM lessons WHERE id = ?", (lesson_id,)).fetchone()[0] == 0


async def test_removing_an_answered_question_says_the_answers_stay(app, client, cast, conn, content):
    token = await signed_in(client, "bob@school.test")
    lesson_id = _lesson(conn, "mobile-money-safety", 1)
    question_id = conn.execute(
        "SELECT id FROM questions WHERE lesson_id = ? ORDER BY position", (lesson_id,)
    ).fetchone()[0]
    learner = add_learner(conn)
    conn.execute(
        "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) VALUES (?, ?, 'A', 1, '2026-03-01')",
        (learner, question_id),
    )
    _, asked = await client.post(f"/admin/questions/{question_id}", data={"delete": "1", "csrf_token": token})
    assert "answered it 1 time" in asked.text and "retired, not deleted" in asked.text


async def test_course_pages_show_short_names_and_fold_tables_on_phones(app, client, cast, conn, content):
    await signed_in(client, "charlie@school.test")
    _, listing = await client.get("/admin/courses")
    assert '<span class="slug">mobile-money-safety-sw</span>' in listing.text and 'class="stack"' in listing.text
    assert 'data-label="Learners"' in listing.text and "/admin/static/editor.css" in listing.text
    _, page = await client.get(f"/admin/courses/{content['mobile-money-safety-sw']}")
    assert "mobile-money-safety-sw" in page.text and "the enrol CSV" in page.text
    assert f'href="/admin/courses/{content["mobile-money-safety"]}"' in page.text  # its original
