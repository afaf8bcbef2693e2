"""The tutor hands a question to a teacher (store.handover) when the course has nothing on it, when the model's
guardrail stops the answer, and on an emergency or safeguarding word; each once per question, whatever retries."""

from __future__ import annotations

import pytest

from coachbox.store import handover as handovers
from coachbox.tutor import service
from tests.certificates import seed
from tests.tutor.conftest import configure


def ask(services, learner, question, key="in:1"):
    return service.answer_question(services, learner, question, question_key=key)


def test_a_question_the_course_does_not_answer_goes_to_a_teacher_once(services, conn, learner):
    configure(services, api_key="")

    first = ask(services, learner, "xylophone quasar zeppelin")
    again = ask(services, learner, "xylophone quasar zeppelin")  # a retried task, a swept exchange

    assert first.source == again.source == "nothing"
    body = seed.outbox(conn, learner)[0]["body"]
    assert "couldn't find that in your course" in body
    assert "I've passed your question to a teacher: they answer here during school hours (Mon–Fri 08:00–16:00)" in body
    [handover] = handovers.list_handovers(conn)
    assert (handover.learner_id, handover.reason, handover.tutor_exchange_id) == (
        learner,
        "tutor_no_answer",
        first.exchange_id,
    )
    assert handover.detail == "xylophone quasar zeppelin" and handover.acked_at is not None
    assert len(handovers.handover_events(conn, handover.id)) == 1


def test_a_question_the_course_answers_stays_with_the_tutor(services, conn, learner, double):
    assert ask(services, learner, "Is my year of birth a good PIN?").source == "llm"
    assert handovers.list_handovers(conn) == []


def test_the_models_guardrail_hands_the_question_to_a_teacher(services, conn, learner, double):
    double.finish_reason = "content_filter"
    double.answer = ""

    answer = ask(services, learner, "Is my year of birth a good PIN?")

    assert answer.source == "refusal"
    body = seed.outbox(conn, learner)[0]["body"]
    assert "Keep your PIN secret" in body and "passed your question to a teacher" in body  # the lesson's words
    [handover] = handovers.list_handovers(conn)
    assert handover.reason == "tutor_guardrail" and handover.tutor_exchange_id == answer.exchange_id


@pytest.mark.parametrize(
    ("question", "start"),
    [("I want to kill myself", "⚠️ This sounds serious"), ("my uncle beats me at night", "⚠️ Thank you for telling me")],
)
def test_an_emergency_or_safeguarding_word_tells_a_teacher_and_the_learner(
    services, conn, learner, double, question, start
):
    answer = ask(services, learner, question)

    assert answer.source == "refusal" and double.requests == []
    body = seed.outbox(conn, learner)[0]["body"]
    assert body.startswith(start) and body.endswith("A teacher has been told and will answer you here.")
    [handover] = handovers.list_handovers(conn)
    assert handover.reason == "safeguarding" and handover.detail == question
