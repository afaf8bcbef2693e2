"""JSON API /api/v1 for integrations: bearer tokens (hashed, scoped, revocable), consistent error objects, OpenAPI."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, SanicException
from sanic.response import json

from coachbox.admin import costs as costs_page
from coachbox.admin.learners import local_time, send_teacher_message
from coachbox.admin.openapi import document
from coachbox.admin.scope import scope_for
from coachbox.admin.security import role_at_least
from coachbox.channels import states
from coachbox.core.costs import NON_ESSENTIAL_KINDS
from coachbox.store import admins, classes, courses
from coachbox.store import learners as q
from coachbox.store.messages import HELD, transcript_page

bp = Blueprint("admin_api", url_prefix="/api/v1")
PER_PAGE = 100


class ApiError(SanicException):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, status_code=status)
        self.code = code


def _error(status: int, code: str, message: str):
    return json({"error": {"code": code, "message": message}}, status=status)


def api_view(role: str = "viewer"):
    """Bearer token with at least `role`; every failure is {"error": {"code", "message"}}."""

    def decorate(handler):
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any):
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                return _error(
                    401, "unauthorized", "Send Authorization: Bearer <token> (create one under Users → API tokens)."
                )
            services = request.app.ctx.services
            token = await services.db.run(_token, header[7:].strip(), services.clock.now())
            if token is None:
                return _error(401, "unauthorized", "This token is unknown or revoked.")
            if not role_at_least(token["role"], role):
                return _error(
                    403, "forbidden", f"This needs a token with the {role} scope; this one is {token['role']}."
                )
            request.ctx.api_token = token
            try:
                return await handler(request, *args, **kwargs)
            except ApiError as exc:
                return _error(exc.status_code, exc.code, str(exc))
            except OverflowError:  # an id or page past SQLite's 64-bit integers: no such thing
                return _error(404, "not_found", "No such record (the number is out of range).")

        return wrapper

    return decorate


def _token(conn, value: str, now) -> dict | None:
    """The live token with the classes it is limited to (admin.scope), in one trip to the database."""
    row = admins.api_token(conn, value, now)
    return None if row is None else {**dict(row), "classes": classes.for_token(conn, row["id"])}


def _scope(request: Request) -> tuple[str, list]:
    """The learners this token may read and message (a token limited to classes: only theirs), as SQL on `l`."""
    return scope_for(request.ctx.api_token).sql("l.id")


def _page(request: Request) -> int:
    value = request.args.get("page", "1")
    return min(max(1, int(value)), 1_000_000) if value.isascii() and value.isdigit() else 1  # past the end: empty


def _learner_json(row) -> dict:
    keys = (
        "id",
        "name",
        "profile_name",
        "phone",
        "channel",
        "language",
        "timezone",
        "status",
        "opted_out",
        "cohort",
        "current_course_id",
        "streak",
        "best_streak",
        "last_inbound_at",
        "created_at",
    )
    return {k: row[k] for k in keys if k in row.keys()}


@bp.get("/learners")
@api_view("viewer")
async def list_learners(request: Request):
    services = request.app.ctx.services
    args = request.args
    course = args.get("course", "")
    f = q.LearnerFilter(
        q=args.get("q", "")[:100],
        status=args.get("status", ""),
        cohort=args.get("cohort", ""),
        course_id=int(course) if course.isdigit() else None,
        page=_page(request),
        per_page=PER_PAGE,
        scope=_scope(request),
    )
    page = await services.db.run(q.search, f, services.clock.now())
    return json(
        {
            "data": [{k: r[k] for k in r.keys()} for r in page.rows],
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
        }
    )


async def _learner(request: Request, learner_id: int):
    # Outside the token's classes reads as no such learner: nothing is revealed.
    row = await request.app.ctx.services.db.run(q.learner, learner_id, scope_for(request.ctx.api_token).sql_one("l.id"))
    if row is None:
        raise ApiError(404, "not_found", f"No learner {learner_id}.")
    return row


@bp.get("/learners/<learner_id:int>")
@api_view("viewer")
async def get_learner(request: Request, learner_id: int):
    row = await _learner(request, learner_id)
    enrollments = await request.app.ctx.services.db.run(q.enrollments, learner_id)
    return json(
        {
            "data": {
                **_learner_json(row),
                "enrollments": [
                    {
                        "course_id": e["course_id"],
                        "title": e["title"],
                        "status": e["status"],
                        "lessons": e["lessons"],
                        "completed_lessons": e["done"],
                        "score": e["score"],
                        "started_at": e["started_at"],
                        "completed_at": e["completed_at"],
                    }
                    for e in enrollments
                ],
            }
        }
    )


@bp.get("/learners/<learner_id:int>/messages")
@api_view("viewer")
async def learner_messages(request: Request, learner_id: int):
    learner = await _learner(request, learner_id)
    services = request.app.ctx.services
    before = request.args.get("before", "")
    rows = await services.db.run(transcript_page, learner_id, before_id=int(before) if before.isdigit() else None)
    now, tz = services.clock.now(), learner["timezone"] or services.settings.org.default_timezone
    return json({"data": [_message(r, now, tz) for r in rows]})


def _message(row, now, tz: str) -> dict:
    """A transcript row with its state in words; the quiet-hours marker is no error code."""
    out = {k: row[k] for k in row.keys() if k != "media"}
    if row["direction"] == "out":
        out["state"] = states.of(row, now, tz).as_json()
    if row["error_code"] == HELD:
        out["error_code"] = out["error_message"] = None
    return out


@bp.post("/learners/<learner_id:int>/messages")
@api_view("editor")
async def send_message(request: Request, learner_id: int):
    services = request.app.ctx.services
    learner = await _learner(request, learner_id)
    try:
        payload = request.json if request.content_type.startswith("application/json") else None
    except BadRequest as exc:  # not UTF-8 JSON, too deep, a lone surrogate (web.bodies.SafeRequest logged it)
        raise ApiError(400, "invalid", str(exc)) from None
    body = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(body, str) or not body.strip() or len(body) > 1600:
        raise ApiError(400, "invalid", 'Send JSON {"body": "…"} with 1 to 1,600 characters.')
    send_at = payload.get("send_at", "now") if isinstance(payload, dict) else "now"
    if send_at not in ("now", "after_quiet_hours"):
        raise ApiError(400, "invalid", 'send_at is "now" (the default) or "after_quiet_hours".')
    if learner["opted_out"]:
        raise ApiError(409, "opted_out", "The learner sent STOP; messages are not allowed until they send START.")
    now = services.clock.now()
    message_id, until = await send_teacher_message(
        services,
        learner,
        body.strip(),
        f"api:{uuid.uuid4().hex}",
        later=send_at == "after_quiet_hours",
        api_token=request.ctx.api_token["id"],
    )
    local = local_time(learner, now, services.settings)
    row = {"status": "queued", "next_attempt_at": (until or now).isoformat()}
    return json(
        {
            "data": {
                "id": message_id,
                "status": "queued",
                "state": states.of(row, now, local.timezone).as_json(),
                "learner_time": {
                    "local": local.clock,
                    "timezone": local.timezone,
                    "quiet_hours": local.quiet,
                    "quiet_hours_end": local.resumes.isoformat() if local.resumes else None,
                },
            }
        },
        status=202,
    )


@bp.get("/learners/<learner_id:int>/progress")
@api_view("viewer")
async def learner_progress(request: Request, learner_id: int):
    await _learner(request, learner_id)
    rows = await request.app.ctx.services.db.run(q.lesson_progress, learner_id)
    return json({"data": rows})


@bp.get("/enrollments")
@api_view("viewer")
async def list_enrollments(request: Request):
    args = request.args
    course = args.get("course", "")
    status = args.get("status", "")
    if status and status not in q.ENROLLMENT_STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(q.ENROLLMENT_STATUSES)}.")
    page = _page(request)
    rows, total = await request.app.ctx.services.db.run(
        q.enrollment_page,
        course_id=int(course) if course.isdigit() else None,
        status=status,
        page=page,
        per_page=PER_PAGE,
        scope=_scope(request),
    )
    return json({"data": rows, "page": page, "pages": max(1, -(-total // PER_PAGE)), "total": total})


@bp.get("/courses")
@api_view("viewer")
async def list_courses(request: Request):
    rows = await request.app.ctx.services.db.run(courses.courses)
    return json(
        {
            "data": [
                {
                    k: r[k]
                    for k in (
                        "id",
                        "slug",
                        "title",
                        "language",
                        "description",
                        "level",
                        "premium",
                        "published",
                        "lessons",
                        "learners",
                    )
                }
                for r in rows
            ]
        }
    )


@bp.get("/courses/<course_id:int>")
@api_view("viewer")
async def get_course(request: Request, course_id: int):
    services = request.app.ctx.services
    course = await services.db.run(courses.course, course_id)
    if course is None:
        raise ApiError(404, "not_found", f"No course {course_id}.")
    lessons = await services.db.run(courses.lessons, course_id)
    return json(
        {
            "data": {
                **{k: course[k] for k in course.keys() if k != "source_hash"},
                "lessons": [{k: lsn[k] for k in lsn.keys()} for lsn in lessons],
            }
        }
    )


def _costs_json(data: dict, numbers: dict, month, budget_micros: int, stop_at_budget: bool) -> dict:
    """The Costs page's figures as JSON: every amount in micros (millionths of a US dollar, exact integers)."""
    total = data["total"]
    forecast = numbers["forecast"]
    state = numbers["budget"]
    breakdowns = {
        dimension: [
            {"label": row["label"], **{k: v for k, v in row.items() if k != "label"}} for row in data[dimension]
        ]
        for dimension in ("kind", "category", "course", "class", "channel")
    }
    return {
        "month": month.key,
        "timezone": month.tz,
        "currency": "USD",
        "unit": "micros",
        "current": numbers["current"],
        "total": total,
        "active_learners": data["active"],
        "per_active_learner_micros": None if numbers["per_learner"] is None else round(numbers["per_learner"]),
        "forecast": None
        if forecast is None
        else {
            "micros": round(forecast["micros"]),
            "method": f"month so far + the last {costs_page.RUN_RATE_DAYS} days' daily average x days left",
            "per_day_micros": round(forecast["per_day"]),
            "days_left": round(forecast["days_left"], 2),
        },
        "estimate_vs_actual": {
            "messages_priced": numbers["comparison"]["priced"],
            "share_priced": round(numbers["comparison"]["share"], 4),
            "actual_micros": numbers["comparison"]["actual"],
            "estimate_micros": numbers["comparison"]["estimate"],
            "difference_micros": numbers["comparison"]["difference"],
        },
        "budget": {
            "monthly_micros": budget_micros,
            "spent_micros": state.spent_micros,
            "share": None if state.share is None else round(state.share, 4),
            "level": state.level,
            "stop_proactive_at_budget": stop_at_budget,
            "held_kinds": sorted(NON_ESSENTIAL_KINDS),
        },
        "days": [{"day": day, **data["days"][day]} for day, _, _ in month.days() if day in data["days"]],
        **{f"by_{dimension}": rows for dimension, rows in breakdowns.items()},
    }


@bp.get("/costs")
@api_view(costs_page.ROLE)
async def costs(request: Request):
    """What messaging cost in ?month=YYYY-MM (this month when absent), the same figures as the Costs page."""
    services = request.app.ctx.services
    settings = services.settings
    now = services.clock.now()
    tz = settings.org.default_timezone
    asked = request.args.get("month")
    month = costs_page.chosen_month(asked, now, tz)
    if asked is not None and month.key != asked:
        raise ApiError(400, "bad_request", f"month={asked!r} is not a month; write YYYY-MM, e.g. {month.key}.")
    # A token limited to classes: the box's totals, and by class only its classes (as the Costs page).
    data = costs_page.for_scope(await services.db.read(costs_page.load, month, now), scope_for(request.ctx.api_token))
    budget_micros, stop_at_budget = costs_page.budget_settings(settings)
    numbers = costs_page.figures(data, month, now, budget_micros)
    return json({"data": _costs_json(data, numbers, month, budget_micros, stop_at_budget)})


@bp.get("/openapi.json")
async def openapi(request: Request):
    return json(document(request.app.ctx.settings.server.public_url))
