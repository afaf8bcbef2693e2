"""Huey tasks for the tutor: answer a question off the request path, and retry after a model timeout."""

from __future__ import annotations

from huey import Huey

from coachbox.tutor import service

RETRY_DELAY_SECONDS = 20


def register(huey: Huey, context) -> dict:
    @huey.task(name="tutor.retry", retries=service.MAX_ATTEMPTS - 1, retry_delay=RETRY_DELAY_SECONDS)
    def retry_answer(exchange_id: int) -> str | None:
        # Raises LlmError on a timeout before the last attempt: Huey runs it again after the delay.
        return service.retry_answer(context.get(), exchange_id).source

    def defer(exchange_id: int) -> None:
        retry_answer.schedule((exchange_id,), delay=RETRY_DELAY_SECONDS)

    @huey.task(name="tutor.answer")
    def answer_question(learner_id: int, question: str, question_key: str) -> str | None:
        answer = service.answer_question(context.get(), learner_id, question, question_key=question_key,
                                         on_defer=defer)
        return answer.source

    return {"tutor.answer": answer_question, "tutor.retry": retry_answer}
