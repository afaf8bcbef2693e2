"""Optional lesson personalisation: a lesson rephrased for a level / learning style, cached per lesson and style."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

from coachbox.conversation.lessons import next_lesson
from coachbox.core.services import Services
from coachbox.learning.course import Catalogue
from coachbox.tutor import prompt
from coachbox.tutor.llm import LlmError
from coachbox.tutor.service import llm_for, record_call, reserve

log = logging.getLogger("coachbox.tutor")

CACHE_SECONDS = 30 * 24 * 3600
MAX_TOKENS = 700
WARMING_SECONDS = 600  # one warm-up per lesson and style at a time; with the model down, one try per 10 minutes
# Learners have no learning-style field yet: one house style, at the course's level.
STYLE = "examples"


def cache_key(lesson_id: int, body: str, level: str, style: str) -> str:
    # The body's hash is in the key: an edited lesson is rephrased again, never served stale.
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    return f"tutor:personalised:{lesson_id}:{digest}:{level.lower()}:{style.lower()}"


def personalised_body(
    services: Services,
    lesson_id: int,
    *,
    level: str = "beginner",
    style: str = "examples",
    learner_id: int | None = None,
) -> str:
    """The lesson body to send: rephrased when [ai] personalise_lessons is on, else (or on any failure) as written."""
    row = services.db.run_sync(
        lambda conn: conn.execute("SELECT title, body FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
    )
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


def warm(services: Services, lesson_id: int, *, level: str, style: str) -> bool:
    """The worker's warm-up: personalise a lesson into the cache; True when a personalised body is cached."""
    row = services.db.run_sync(
        lambda conn: conn.execute("SELECT body FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
    )
    if row is None:
        return False
    key = cache_key(lesson_id, row["body"], level, style)
    # Daily fan-outs deliver one lesson to many learners: the first warm-up runs, the others find it busy.
    if key in services.cache or not services.cache.add(f"{key}:warming", 1, expire=WARMING_SECONDS, retry=True):
        return key in services.cache
    personalised_body(services, lesson_id, level=level, style=style)
    return key in services.cache


def for_turn(cache, catalogue: Catalogue, learner) -> tuple[Catalogue, frozenset[int]]:
    """The catalogue with the learner's upcoming lesson as cached personalised text, for the pure engine.

    A cache read only, never a model call: this runs inside a webhook's turn. Returns the lesson ids served
    personalised, so the service can warm the cache for the ones that were not (`warm_ups`).
    """

    course = catalogue.course(learner.current_course_id)
    lesson = next_lesson(learner, course)
    if course is None or lesson is None or lesson.id is None:  # no course: next_lesson found no lesson either
        return catalogue, frozenset()
    cached = cache.get(cache_key(lesson.id, lesson.body, course.level, STYLE))
    if cached is None:
        return catalogue, frozenset()
    courses = tuple(
        replace(c, lessons=tuple(replace(item, body=cached) if item.id == lesson.id else item for item in c.lessons))
        if c.id == course.id
        else c
        for c in catalogue.courses
    )
    return replace(catalogue, courses=courses), frozenset({lesson.id})


def warm_ups(
    cache, catalogue: Catalogue, delivered: list[tuple[int, int]], served: frozenset[int]
) -> list[tuple[int, str, str]]:
    """(lesson_id, level, style) to personalise in the worker: each lesson just delivered as written, and the
    lesson after it (what the learner gets next, so it is usually warm by then)."""
    wanted: list[tuple[int, str, str]] = []
    for course_id, lesson_id in delivered:
        course = catalogue.course(course_id)
        if course is None:
            continue
        index = next((i for i, item in enumerate(course.lessons) if item.id == lesson_id), None)
        if index is None:
            continue
        for lesson in course.lessons[index : index + 2]:
            if (
                lesson.id is None
                or lesson.id in served
                or cache.get(cache_key(lesson.id, lesson.body, course.level, STYLE)) is not None
            ):
                continue
            if (lesson.id, course.level, STYLE) not in wanted:
                wanted.append((lesson.id, course.level, STYLE))
    return wanted
