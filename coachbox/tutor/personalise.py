"""Optional lesson personalisation: a lesson rephrased for a level / learning style, cached per lesson and style."""

from __future__ import annotations

import hashlib
import logging

from coachbox.tutor import prompt
from coachbox.tutor.llm import LlmError
from coachbox.tutor.service import llm_for, record_call, reserve

log = logging.getLogger("coachbox.tutor")

CACHE_SECONDS = 30 * 24 * 3600
MAX_TOKENS = 700


def cache_key(lesson_id: int, body: str, level: str, style: str) -> str:
    # The body's hash is in the key: an edited lesson is rephrased again, never served stale.
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    return f"tutor:personalised:{lesson_id}:{digest}:{level.lower()}:{style.lower()}"


def personalised_body(services, lesson_id: int, *, level: str = "beginner", style: str = "examples",
                      learner_id: int | None = None) -> str:
    """The lesson body to send: rephrased when [ai] personalise_lessons is on, else (or on any failure) as written."""
    row = services.db.run_sync(
        lambda conn: conn.execute("SELECT title, body FROM lessons WHERE id = ?", (lesson_id,)).fetchone())
    if row is None:
        raise LookupError(f"lesson {lesson_id} does not exist")
    title, body = row["title"], row["body"]
    ai = services.settings.ai
    if not (ai.personalise_lessons and ai.api_key):
        return body
    key = cache_key(lesson_id, body, level, style)
    cached = services.cache.get(key)
    if cached is not None:
        return cached
    messages = prompt.personalise_messages(title, body, level=level, style=style)
    usage_id = reserve(services, learner_id, None, "personalise", messages, MAX_TOKENS)
    if usage_id is None:  # the month's budget is spent: the lesson as written is still a good lesson
        return body
    try:
        completion = llm_for(services).complete(messages, max_tokens=MAX_TOKENS)
    except LlmError as exc:
        record_call(services, learner_id, None, "personalise", None, exc, usage_id=usage_id)
        log.warning("lesson personalisation failed; sending the lesson as written", extra={"lesson_id": lesson_id})
        return body
    record_call(services, learner_id, None, "personalise", completion, None, usage_id=usage_id)
    text = completion.text if len(completion.text) <= 1600 else body  # must still fit one WhatsApp message
    services.cache.set(key, text, expire=CACHE_SECONDS)
    return text
