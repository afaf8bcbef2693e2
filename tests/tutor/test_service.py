"""Answering questions through the real openai client and a local double: grounding, guardrails, limits,
usage and cost, timeouts answered later by the worker, and the no-AI fallback."""

from __future__ import annotations

import pytest

from coachbox.store import tutor as store
from coachbox.tutor import service
from tests.certificates import seed
from tests.tutor.conftest import configure

PIN_QUESTION = "Is my year of birth a good PIN?"


def ask(services, learner, question=PIN_QUESTION, key="in:1", **kwargs):
    return service.answer_question(services, learner, question, question_key=key, **kwargs)


def test_it_answers_with_the_model_grounded_in_the_course(services, conn, learner, double):
    answer = ask(services, learner)

    assert answer.source == "llm" and not answer.deferred
    [request] = double.chat_requests()
    assert request["model"] == "tiny-tutor" and request["stream"] is False
    system, context, user = request["messages"]
    assert "Mobile Money Safety" in system["content"] and "in English" in system["content"]
    assert "teacher" in system["content"] and "120 words" in system["content"]
    assert 'Lesson "Keep your PIN secret"' in context["content"]
    assert user == {"role": "user", "content": PIN_QUESTION}
    assert double.requests[0]["headers"]["authorization"] == "Bearer test-key"
    [message] = seed.outbox(conn, learner)
    assert message["kind"] == "tutor_ai" and message["body"] == f"🤖 {double.answer}"
    exchange = store.exchange_for_message(conn, message["id"])
    assert exchange.source == "llm" and exchange.status == "answered" and exchange.question == PIN_QUESTION


def test_it_records_tokens_model_latency_and_cost_for_every_call(services, conn, learner, double):
    ask(services, learner)

    [usage] = conn.execute("SELECT * FROM tutor_usage").fetchall()
    assert (usage["tokens_in"], usage["tokens_out"], usage["model"], usage["outcome"]) == (120, 40, "tiny-tutor", "ok")
    assert usage["purpose"] == "answer" and usage["learner_id"] == learner and usage["latency_ms"] >= 0
    assert usage["cost"] == pytest.approx(120 * 0.15 / 1e6 + 40 * 0.60 / 1e6)
    assert store.usage_summary(conn, services.clock.now().replace(day=1))["tokens_in"] == 120


def test_it_estimates_tokens_when_the_server_reports_no_usage(services, conn, learner, double):
    double.mode = "no_usage"

    ask(services, learner)

    usage = conn.execute("SELECT tokens_in, tokens_out FROM tutor_usage").fetchone()
    assert usage["tokens_in"] > 50 and usage["tokens_out"] == len(double.answer) // 4


def test_it_answers_in_the_learners_language_from_their_course(services, conn, courses, double):
    learner = seed.add_learner(
        conn, name="Baraka", language="sw", phone="+254700000002", course_id=courses["mobile-money-safety-sw"]
    )
    double.answer = "Usitumie mwaka wako wa kuzaliwa kama PIN."

    ask(services, learner, "Je, mwaka wangu wa kuzaliwa ni PIN nzuri?")

    system, context, _ = double.chat_requests()[0]["messages"]
    assert "in Kiswahili" in system["content"] and "Usalama wa Pesa za Simu" in system["content"]
    assert 'Lesson "Tunza siri ya PIN yako"' in context["content"]
    assert seed.outbox(conn, learner)[0]["body"] == "🤖 Usitumie mwaka wako wa kuzaliwa kama PIN."


def test_it_answers_from_the_lessons_without_an_api_key(services, conn, learner, double):
    configure(services, api_key="")

    answer = ask(services, learner, "What should I do if I sent money to the wrong number?")

    assert answer.source == "excerpt" and double.requests == []
    [message] = seed.outbox(conn, learner)
    assert message["kind"] == "tutor"
    assert "From your lesson *Sent to the wrong number?*" in message["body"]
    assert (
        "reversal" in message["body"] and "Revisit *Sent to the wrong number?* (Mobile Money Safety)" in message["body"]
    )


def test_it_never_leaves_a_dead_end_when_nothing_matches(services, conn, learner):
    configure(services, api_key="")

    answer = ask(services, learner, "xylophone quasar zeppelin")

    assert answer.source == "nothing"
    assert "couldn't find that in your course" in seed.outbox(conn, learner)[0]["body"]


@pytest.mark.parametrize("mode", ["error", "rate_limited", "unauthorised"])
def test_it_falls_back_to_the_lesson_excerpt_when_the_model_fails(services, conn, learner, double, mode):
    double.mode = mode

    answer = ask(services, learner, on_defer=lambda exchange_id: pytest.fail("only timeouts are deferred"))

    assert answer.source == "excerpt"
    assert "Keep your PIN secret" in seed.outbox(conn, learner)[0]["body"]
    assert conn.execute("SELECT outcome FROM tutor_usage").fetchone()[0] == "error"


def test_it_falls_back_when_the_model_server_is_unreachable(services, conn, learner, double):
    double.server.server_close()
    configure(services, base_url="http://127.0.0.1:9/v1")  # the discard port: nothing listens there

    answer = ask(services, learner)

    assert answer.source == "excerpt" and "Keep your PIN secret" in answer.body


def test_it_says_it_will_get_back_on_a_timeout_and_answers_later(services, conn, learner, double):
    double.mode = "timeout"
    deferred: list[int] = []

    first = ask(services, learner, on_defer=deferred.append)

    assert first.deferred and deferred == [first.exchange_id]
    [holding] = seed.outbox(conn, learner)
    assert "I'll get back to you" in holding["body"]
    assert conn.execute("SELECT outcome FROM tutor_usage").fetchone()[0] == "timeout"
    assert ask(services, learner, on_defer=deferred.append).deferred and deferred == [first.exchange_id]

    double.mode = "ok"
    later = service.retry_answer(services, first.exchange_id)

    assert later.source == "llm"
    answer = seed.outbox(conn, learner)[-1]
    assert answer["body"].startswith(f'🤖 About your question "{PIN_QUESTION}"') and double.answer in answer["body"]
    assert service.retry_answer(services, first.exchange_id).source == "llm"  # a duplicate retry changes nothing
    assert len(seed.outbox(conn, learner)) == 2


def test_it_sends_the_excerpt_when_the_last_retry_times_out_too(services, conn, learner, double):
    from coachbox.tutor.llm import LlmError

    double.mode = "timeout"
    exchange_id = ask(services, learner, on_defer=lambda _: None).exchange_id

    with pytest.raises(LlmError):
        service.retry_answer(services, exchange_id)  # attempt 2: the worker task retries after its delay
    final = service.retry_answer(services, exchange_id)  # attempt 3: the last

    assert final.source == "excerpt"
    bodies = [m["body"] for m in seed.outbox(conn, learner)]
    assert len(bodies) == 2 and "Keep your PIN secret" in bodies[1]


def test_it_retries_timeouts_through_the_worker_tasks(services, conn, learner, double, settings):
    from coachbox.jobs.tasks import WorkerContext
    from coachbox.tutor.tasks import register

    tasks = register(services.huey, WorkerContext(settings, services))
    double.mode = "timeout"

    assert tasks["tutor.answer"](learner, PIN_QUESTION, "in:77")() is None  # deferred
    [scheduled] = services.huey.scheduled()
    assert scheduled.name == "tutor.retry" and scheduled.args == (1,)

    double.mode = "ok"
    assert tasks["tutor.retry"](1)() == "llm"
    assert [m["kind"] for m in seed.outbox(conn, learner)] == ["tutor", "tutor_ai"]


@pytest.mark.parametrize(
    "question, kind",
    [
        ("I want to kill myself", "medical"),
        ("My friend is bleeding a lot and unconscious", "medical"),
        ("I was arrested by the police, what do I say in court?", "legal"),
        ("Someone stole all my money from M-PESA last night!", "financial"),
        ("Nataka kujiua", "medical"),
    ],
)
def test_it_refuses_emergencies_and_points_to_a_teacher_without_calling_the_model(
    services, conn, learner, double, question, kind
):
    answer = ask(services, learner, question)

    assert answer.source == "refusal" and double.requests == []
    body = seed.outbox(conn, learner)[0]["body"]
    assert body.startswith("⚠️") and "teacher" in body


def test_it_limits_questions_per_learner_per_day(services, conn, learner, double, clock):
    configure(services, daily_limit_per_learner=2)

    sources = [ask(services, learner, f"{PIN_QUESTION} ({n})", key=f"in:{n}").source for n in range(3)]

    assert sources == ["llm", "llm", "limit"] and len(double.requests) == 2
    limited = seed.outbox(conn, learner)[-1]["body"]
    assert "You've asked 2 questions today" in limited and "Keep your PIN secret" in limited  # still helpful

    clock.advance(hours=20)  # 01:00 the next day in Nairobi
    assert ask(services, learner, PIN_QUESTION, key="in:next-day").source == "llm"


def test_it_stops_calling_the_model_at_the_monthly_token_budget(services, conn, learner, double, courses):
    configure(services, monthly_token_budget=200)
    other = seed.add_learner(conn, name="Otieno", phone="+254700000003")

    assert ask(services, learner, key="in:1").source == "llm"  # 160 tokens
    assert ask(services, other, key="in:2").source == "llm"  # 320: over budget from now on
    answer = ask(services, learner, key="in:3")

    assert answer.source == "budget" and len(double.requests) == 2
    assert "resting until next month" in answer.body and "Keep your PIN secret" in answer.body


def test_it_reserves_tokens_so_concurrent_calls_overshoot_the_budget_by_one_call_at_most(
    services, conn, learner, double, courses
):
    import threading

    configure(services, monthly_token_budget=200)  # one call uses 160 (the double's usage)
    learners = [learner] + [seed.add_learner(conn, name=f"Learner {n}", phone=f"+25470000010{n}") for n in range(7)]
    start = threading.Barrier(len(learners))
    sources = []

    def one(number, learner_id):
        start.wait()
        sources.append(ask(services, learner_id, key=f"in:race:{number}").source)

    threads = [threading.Thread(target=one, args=pair) for pair in enumerate(learners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    used = conn.execute("SELECT COALESCE(SUM(tokens_in + tokens_out), 0) FROM tutor_usage").fetchone()[0]
    assert used <= 200 + 160 and len(double.requests) <= 2
    assert sources.count("budget") == len(learners) - len(double.requests)
    assert conn.execute("SELECT COUNT(*) FROM tutor_usage WHERE outcome = 'reserved'").fetchone()[0] == 0


def test_it_answers_each_question_once(services, conn, learner, double):
    first = ask(services, learner, key="in:SM123")
    again = ask(services, learner, key="in:SM123")

    assert again.exchange_id == first.exchange_id and again.source == "llm"
    assert len(double.requests) == 1 and len(seed.outbox(conn, learner)) == 1


def test_it_lets_teachers_flag_bad_answers(services, conn, learner, clock):
    ask(services, learner)
    message = seed.outbox(conn, learner)[0]
    exchange = store.exchange_for_message(conn, message["id"])

    assert store.flag_answer(conn, exchange.id, admin_id=None, note="wrong about PIN length", now=clock.now())

    [flagged] = store.flagged_exchanges(conn)
    assert flagged.id == exchange.id and flagged.flag_note == "wrong about PIN length"
    assert [e.id for e in store.exchanges_for_learner(conn, learner)] == [exchange.id]
    assert store.unflag_answer(conn, exchange.id) and store.flagged_exchanges(conn) == []
    assert not store.flag_answer(conn, 999, admin_id=None, note="", now=clock.now())


def test_it_sweeps_up_questions_whose_task_was_lost(services, conn, learner, double, settings, clock):
    from coachbox.jobs.tasks import WorkerContext
    from coachbox.store import transaction
    from coachbox.tutor.tasks import register

    tasks = register(services.huey, WorkerContext(settings, services))
    with transaction(conn):  # what the conversation service writes in the turn's transaction
        store.start_exchange(
            conn,
            learner_id=learner,
            question_key="in:lost",
            question=PIN_QUESTION,
            language="en",
            course_id=None,
            now=clock.now(),
        )

    assert tasks["tutor.sweep"].call_local() == 0
    clock.advance(minutes=2)
    assert tasks["tutor.sweep"].call_local() == 1

    assert [m["kind"] for m in seed.outbox(conn, learner)] == ["tutor_ai"]
    assert tasks["tutor.sweep"].call_local() == 0
