"""Huey tasks for the tutor: answers, retries after a model timeout, lesson warm-ups, and sweeps (voice notes: turns.tasks)."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import Huey, crontab

from coachbox.store import tutor as store
from coachbox.tutor import personalise, service
from coachbox.tutor.llm import LlmError

log = logging.getLogger("coachbox.tutor")

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
        answer = service.answer_question(context.get(), learner_id, question, question_key=question_key, on_defer=defer)
        return answer.source

    @huey.periodic_task(crontab(minute="*/2"), name="tutor.sweep")
    def sweep() -> int:
        services = context.get()
        now = services.clock.now()
        stale = services.db.run_sync(
            store.stale_pending, fresh_before=now - timedelta(minutes=1), retried_before=now - timedelta(minutes=10)
        )
        for exchange in stale:
            try:
                if exchange.attempts == 0:
                    service.answer_question(
                        services,
                        exchange.learner_id,
                        exchange.question,
                        question_key=exchange.question_key,
                        on_defer=defer,
                    )
                else:
                    service.retry_answer(services, exchange.id)
            except LlmError:
                log.warning("tutor sweep: model still failing", extra={"exchange_id": exchange.id})
        return len(stale)

    @huey.task(name="tutor.personalise")
    def warm_lesson(lesson_id: int, level: str, style: str) -> bool:
        return personalise.warm(context.get(), lesson_id, level=level, style=style)

    return {
        "tutor.answer": answer_question,
        "tutor.retry": retry_answer,
        "tutor.sweep": sweep,
        "tutor.personalise": warm_lesson,
    }
