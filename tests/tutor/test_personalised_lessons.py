"""Personalised lessons: the cached rephrasing when there is one, the lesson as written otherwise, warmed by the worker."""

from __future__ import annotations

from datetime import timedelta

from coachbox.conversation.events import DeliverDailyLesson
from coachbox.turns import runner as conversation
from coachbox.tutor import personalise
from tests.certificates import seed
from tests.tutor.conftest import configure
from tests.tutor.test_voice_notes import worker_tasks

STORY = "Imagine Amina keeps the money from her shop on her phone, safe with the provider."


def lessons(conn, slug="mobile-money-safety"):
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT l.id, l.body FROM lessons l JOIN courses c ON c.id = l.course_id WHERE c.slug = ? ORDER BY l.position",
            (slug,),
        )
    ]


def daily_lesson(services, conn, learner):
    """The scheduler's daily lesson for one learner; returns the lesson text sent and the turn's outcome.

    The learner wrote an hour ago: inside the 24-hour window the lesson itself goes out (outside it, a nudge).
    """
    written = (services.clock.now() - timedelta(hours=1)).isoformat()
    conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", (written, learner))
    res = conversation.resources(services)
    outcome = conversation.run_event(
        conn,
        services.cache,
        services.settings,
        res.catalogue(conn),
        res.texts,
        learner,
        DeliverDailyLesson(),
        services.clock.now(),
    )
    return "\n".join(m["body"] for m in seed.outbox(conn, learner)), outcome


def warm_ups(outcome):
    return [f.args for f in outcome.followups if f.task == "tutor.personalise"]


def opening(body: str) -> str:
    return body.split("\n")[0][:40]


def test_it_sends_the_lesson_as_written_when_personalisation_is_off(services, conn, learner, double):
    [(_, first), *_] = lessons(conn)

    text, outcome = daily_lesson(services, conn, learner)

    assert opening(first) in text and warm_ups(outcome) == [] and double.requests == []


def test_it_sends_the_lesson_as_written_and_warms_the_cache_when_cold(services, conn, learner, double):
    configure(services, personalise_lessons=True)
    double.answer = STORY
    [(first_id, first), (second_id, _), *_] = lessons(conn)

    text, outcome = daily_lesson(services, conn, learner)

    assert opening(first) in text and STORY not in text
    assert double.requests == []  # the turn only read the cache
    assert warm_ups(outcome) == [(first_id, "beginner", personalise.STYLE), (second_id, "beginner", personalise.STYLE)]

    services.tasks = worker_tasks(services)
    conversation.dispatch(services, outcome)  # after the commit, as the service does

    assert len(double.chat_requests()) == 2
    assert all(
        personalise.warm(services, lesson_id, level="beginner", style=personalise.STYLE)
        for lesson_id in (first_id, second_id)
    )  # cached now: no further model call
    assert len(double.chat_requests()) == 2


def test_it_sends_the_cached_personalised_lesson(services, conn, learner, double):
    configure(services, personalise_lessons=True)
    double.answer = STORY
    [(first_id, first), (second_id, _), *_] = lessons(conn)
    assert worker_tasks(services)["tutor.personalise"](first_id, "beginner", personalise.STYLE)()

    text, outcome = daily_lesson(services, conn, learner)

    assert STORY in text and opening(first) not in text
    assert "Lesson 1 of 7" in text  # the header and the quiz are the lesson's own
    assert warm_ups(outcome) == [(second_id, "beginner", personalise.STYLE)]  # only what is still cold


def test_it_sends_the_lesson_as_written_when_the_model_is_down(services, conn, learner, double):
    configure(services, personalise_lessons=True)
    double.mode = "error"
    [(first_id, first), *_] = lessons(conn)
    tasks = worker_tasks(services)

    text, outcome = daily_lesson(services, conn, learner)
    services.tasks = tasks
    conversation.dispatch(services, outcome)

    assert opening(first) in text
    assert not tasks["tutor.personalise"](first_id, "beginner", personalise.STYLE)()  # one try per 10 minutes
    assert len(double.chat_requests()) == 2  # the two warm-ups, each tried once
    assert conn.execute("SELECT COUNT(*) FROM tutor_usage WHERE outcome = 'error'").fetchone()[0] == 2
