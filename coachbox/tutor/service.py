"""Answer a learner's question: guardrails, limits, retrieval, the model (or an excerpt), usage, the outbox."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coachbox.certificates import wording
from coachbox.conversation.handover import format_hours, words_match
from coachbox.core import events
from coachbox.core.services import Services
from coachbox.store import handover as handovers
from coachbox.store import transaction
from coachbox.store import tutor as store
from coachbox.store.messages import OutboxDraft, enqueue_outbound
from coachbox.tutor import prompt
from coachbox.tutor.llm import Completion, LlmError, TutorLlm
from coachbox.tutor.search import Passage, best_paragraphs, search

log = logging.getLogger("coachbox.tutor")

MAX_ATTEMPTS = 3  # the first try plus two retries from the worker; then the learner gets the excerpt
WHATSAPP_LIMIT = 1600
ANSWER_MAX_TOKENS = 300  # ~120 words in any language, with room to spare
RESERVATION_STALE = timedelta(minutes=10)  # far beyond any call's timeout: its worker died before settling


@dataclass(frozen=True)
class Answer:
    exchange_id: int
    source: str | None  # llm | excerpt | refusal | limit | budget | nothing; None while deferred
    body: str | None
    deferred: bool = False  # a holding reply went out; the worker answers later


def llm_for(services: Services) -> TutorLlm:
    """One client per process, kept with the other long-lived resources."""
    client = services.tutor_llm
    if client is None:
        client = services.tutor_llm = TutorLlm(services.settings.ai)
    return client


def answer_question(
    services: Services,
    learner_id: int,
    question: str,
    *,
    question_key: str,
    on_defer: Callable[[int], None] | None = None,
) -> Answer:
    """Answer once per question_key. With `on_defer`, a model timeout sends a holding reply and calls
    on_defer(exchange_id) so the worker retries (retry_answer); without it, the excerpt goes out at once."""
    now = services.clock.now()
    learner, exchange = services.db.run_sync(_begin, learner_id, question, question_key, now)
    if exchange is None:  # the learner erased their data after asking: no answer, and no new row with their words
        return Answer(0, None, None)
    if exchange.status != "pending" or exchange.attempts > 0:
        return Answer(exchange.id, exchange.source, exchange.answer, deferred=exchange.status == "pending")
    return _attempt(services, learner, exchange, on_defer=on_defer)


def retry_answer(services: Services, exchange_id: int) -> Answer:
    """The worker's later try at a deferred question; the last one falls back to the excerpt."""
    exchange = services.db.run_sync(store.get_exchange, exchange_id)
    if exchange is None or exchange.status != "pending":
        return Answer(exchange_id, exchange.source if exchange else None, exchange.answer if exchange else None)
    learner = services.db.run_sync(_learner, exchange.learner_id)
    return _attempt(services, learner, exchange, on_defer=None, later=True)


def _attempt(services: Services, learner: dict, exchange: store.Exchange, *, on_defer, later: bool = False) -> Answer:
    settings, ai, now = services.settings, services.settings.ai, services.clock.now()
    language, question = learner["language"], exchange.question
    attempt = services.db.run_sync(store.count_attempt, exchange.id)

    kind = prompt.emergency_kind(question)
    if kind is not None or _safeguarding_word(settings, question):  # a teacher is told at once (handover)
        key = f"tutor.emergency_{kind}" if kind else "handover.safeguarding"
        told = wording.phrase(settings, language, "handover.teacher_told")
        text = wording.phrase(settings, language, key) + "\n\n" + told
        return _finish(services, learner, exchange, "refusal", text, [], handover="safeguarding")

    passages = services.db.run_sync(search, question, course_id=exchange.course_id, language=language)
    lesson_ids = [p.lesson_id for p in passages]
    if not later:
        notice = _limit_notice(services, learner, exchange, now)
        if notice is not None:
            source, text = notice
            return _finish(
                services,
                learner,
                exchange,
                source,
                text + "\n\n" + _excerpt(settings, language, question, passages),
                lesson_ids,
            )
    if not ai.api_key:
        return _finish(
            services,
            learner,
            exchange,
            _excerpt_source(passages),
            _excerpt(settings, language, question, passages),
            lesson_ids,
        )

    course_title = passages[0].course_title if passages else ""
    messages = prompt.build_messages(
        question,
        passages,
        org=settings.org.name,
        course=course_title,
        language=wording.phrase(settings, language, "tutor.language_name"),
    )
    usage_id = reserve(services, learner["id"], exchange.id, "answer", messages, ANSWER_MAX_TOKENS)
    if usage_id is None:
        log.warning("tutor monthly token budget reached", extra={"budget": ai.monthly_token_budget})
        text = wording.phrase(settings, language, "tutor.budget_reached")
        return _finish(
            services,
            learner,
            exchange,
            "budget",
            text + "\n\n" + _excerpt(settings, language, question, passages),
            lesson_ids,
            later=later,
        )
    try:
        completion = llm_for(services).complete(
            messages, max_tokens=ANSWER_MAX_TOKENS, timeout=ai.timeout_seconds * (2 if later else 1)
        )
    except LlmError as exc:
        record_call(services, learner["id"], exchange.id, "answer", None, exc, usage_id=usage_id)
        log.warning("tutor model failed", extra={"exchange_id": exchange.id, "attempt": attempt, "error": str(exc)})
        if exc.timeout and on_defer is not None and attempt < MAX_ATTEMPTS:
            _send(
                services,
                learner,
                f"tutor:{exchange.id}:holding",
                wording.phrase(settings, language, "tutor.holding"),
                kind="tutor",
            )
            on_defer(exchange.id)
            return Answer(exchange.id, None, None, deferred=True)
        if exc.timeout and later and attempt < MAX_ATTEMPTS:
            raise  # the worker's task retries after its delay
        return _finish(
            services,
            learner,
            exchange,
            _excerpt_source(passages),
            _excerpt(settings, language, question, passages),
            lesson_ids,
            later=later,
        )
    record_call(services, learner["id"], exchange.id, "answer", completion, None, usage_id=usage_id)
    if completion.refused:  # the server's guardrail stopped the answer: the lessons' words, and a teacher sees it
        text = _excerpt(settings, language, question, passages)
        return _finish(
            services, learner, exchange, "refusal", text, lesson_ids, later=later, handover="tutor_guardrail"
        )
    text = wording.phrase(settings, language, "tutor.answer", answer=prompt.trim_words(completion.text))
    return _finish(services, learner, exchange, "llm", text, lesson_ids, later=later)


def _limit_notice(services: Services, learner: dict, exchange: store.Exchange, now: datetime) -> tuple[str, str] | None:
    ai, settings, language = services.settings.ai, services.settings, learner["language"]
    if ai.daily_limit_per_learner > 0:
        used = services.db.run_sync(
            store.questions_since, learner["id"], local_midnight(now, learner["timezone"]), excluding=exchange.id
        )
        if used >= ai.daily_limit_per_learner:
            return "limit", wording.phrase(settings, language, "tutor.limit_reached", limit=ai.daily_limit_per_learner)
    return None


def reserve(
    services: Services,
    learner_id: int | None,
    exchange_id: int | None,
    purpose: str,
    messages: list[dict],
    max_tokens: int,
) -> int | None:
    """Reserve this call's maximum (prompt estimate + max_tokens) against [ai] monthly_token_budget for the
    calendar month (UTC), atomically: concurrent calls see each other's reservations, so the month ends at most
    one call's maximum over the budget. Returns the usage row to settle, or None when the budget is spent."""
    ai, now = services.settings.ai, services.clock.now()
    month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    # ~3 characters a token is generous for English and Kiswahili: the reservation should not be too small.
    tokens = sum(len(m["content"]) for m in messages) // 3 + max_tokens

    def _write(conn: sqlite3.Connection) -> int | None:
        with transaction(conn):
            return store.reserve_tokens(
                conn,
                month=month,
                budget=ai.monthly_token_budget,
                tokens=tokens,
                learner_id=learner_id,
                exchange_id=exchange_id,
                purpose=purpose,
                model=ai.model,
                now=now,
                stale_before=now - RESERVATION_STALE,
            )

    return services.db.run_sync(_write)


def local_midnight(now: datetime, tz_name: str | None) -> datetime:
    zone: tzinfo
    try:
        zone = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def _excerpt_source(passages: list[Passage]) -> str:
    return "excerpt" if passages else "nothing"


def _excerpt(settings, language: str, question: str, passages: list[Passage]) -> str:
    """Never a dead end: the best paragraphs of the best lesson, and which lesson to revisit."""
    if not passages:
        return wording.phrase(settings, language, "tutor.nothing_found")
    best = passages[0]
    return wording.phrase(
        settings,
        language,
        "tutor.excerpt",
        lesson=best.lesson_title,
        course=best.course_title,
        excerpt=best_paragraphs(best.body, question, limit=2, max_chars=700),
    )


def cost_of(ai, tokens_in: int, tokens_out: int) -> float:
    return round(tokens_in * ai.input_price_per_million / 1e6 + tokens_out * ai.output_price_per_million / 1e6, 8)


class _Usage(TypedDict):
    """The measured part of one usage row (store.settle_usage / store.record_usage keywords)."""

    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: int
    cost: float
    outcome: str


def record_call(
    services: Services,
    learner_id: int | None,
    exchange_id: int | None,
    purpose: str,
    completion: Completion | None,
    error: LlmError | None,
    *,
    usage_id: int | None = None,
) -> None:
    """Usage of one call: settles its reservation when it had one, else a new row."""
    ai, now = services.settings.ai, services.clock.now()
    values: _Usage
    if completion is not None:
        values = _Usage(
            model=completion.model,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            latency_ms=completion.latency_ms,
            cost=cost_of(ai, completion.tokens_in, completion.tokens_out),
            outcome="ok",
        )
    else:
        values = _Usage(
            model=ai.model,
            tokens_in=0,
            tokens_out=0,
            latency_ms=error.latency_ms if error else 0,
            cost=0.0,
            outcome="timeout" if error and error.timeout else "error",
        )

    def _write(conn: sqlite3.Connection) -> None:
        if usage_id is not None:
            store.settle_usage(conn, usage_id, **values)
        else:
            store.record_usage(conn, learner_id=learner_id, exchange_id=exchange_id, purpose=purpose, now=now, **values)

    services.db.run_sync(_write)


def _finish(
    services: Services,
    learner: dict,
    exchange: store.Exchange,
    source: str,
    body: str,
    lesson_ids: list[int],
    *,
    later: bool = False,
    handover: str | None = None,
) -> Answer:
    """Record the answer and queue it. `handover`: a reason to hand the question to a teacher too (the learner is
    told); an answer found in no lesson is handed over as tutor_no_answer."""
    settings, now = services.settings, services.clock.now()
    if handover is None and not lesson_ids and source != "refusal":
        handover = "tutor_no_answer"
    if handover in ("tutor_no_answer", "tutor_guardrail"):
        hours = format_hours(learner["language"], settings.handover.office_hours)
        body += "\n\n" + wording.phrase(settings, learner["language"], "handover.tutor_handed", hours=hours)
    if later:
        body = wording.phrase(
            settings, learner["language"], "tutor.later", question=exchange.question[:80], answer=body
        )
    body = body if len(body) <= WHATSAPP_LIMIT else body[: WHATSAPP_LIMIT - 1] + "…"
    draft = OutboxDraft(
        body=body, kind="tutor_ai" if source == "llm" else "tutor", idempotency_key=f"tutor:{exchange.id}:answer"
    )

    def _write(conn: sqlite3.Connection) -> bool:
        with transaction(conn):
            if not store.finish_exchange(conn, exchange.id, source=source, answer=body, lesson_ids=lesson_ids, now=now):
                return False
            message_id = enqueue_outbound(
                conn,
                learner_id=learner["id"],
                channel=learner["channel"],
                address=learner["channel_key"],
                draft=draft,
                now=now,
                sequence=1,
            )
            store.link_message(conn, exchange.id, message_id)
            if handover is not None:  # keyed by the exchange: a retried task opens nothing more
                handovers.open_handover(
                    conn,
                    learner["id"],
                    handover,
                    now,
                    detail=exchange.question,
                    tutor_exchange_id=exchange.id,
                    key=f"tutor:{exchange.id}:{handover}",
                    acked=True,
                )
            return True

    if not services.db.run_sync(_write):
        current = services.db.run_sync(store.get_exchange, exchange.id)
        if current is None:  # exchanges are never deleted while their answer is being written
            raise LookupError(f"tutor exchange {exchange.id} is gone")
        return Answer(exchange.id, current.source, current.answer)
    if handover is not None:  # committed: the admin menu's Inbox count (through the relay from the worker)
        events.publish(services, "inbox")
    log.info("tutor answered", extra={"exchange_id": exchange.id, "source": source})
    return Answer(exchange.id, source, body)


def _safeguarding_word(settings, question: str) -> bool:
    """A [handover] safeguarding_words word or phrase in the question (voice notes come here without the engine)."""
    words = tuple(w.strip() for w in settings.handover.safeguarding_words.split(",") if w.strip())
    return words_match(words, question) is not None


def _send(services: Services, learner: dict, key: str, body: str, *, kind: str) -> None:
    now = services.clock.now()

    def _write(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            enqueue_outbound(
                conn,
                learner_id=learner["id"],
                channel=learner["channel"],
                address=learner["channel_key"],
                draft=OutboxDraft(body=body, kind=kind, idempotency_key=key),
                now=now,
            )

    services.db.run_sync(_write)


def _learner(conn: sqlite3.Connection, learner_id: int) -> dict:
    row = conn.execute(
        "SELECT id, language, timezone, channel, channel_key, current_course_id, status FROM learners WHERE id = ?",
        (learner_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"learner {learner_id} does not exist")
    return dict(row)


def _begin(
    conn: sqlite3.Connection, learner_id: int, question: str, question_key: str, now: datetime
) -> tuple[dict, store.Exchange | None]:
    learner = _learner(conn, learner_id)
    if learner["status"] == "deleted":
        return learner, None
    with transaction(conn):
        exchange = store.start_exchange(
            conn,
            learner_id=learner_id,
            question_key=question_key,
            question=question,
            language=learner["language"],
            course_id=learner["current_course_id"],
            now=now,
        )
    return learner, exchange
