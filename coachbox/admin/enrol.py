"""Enrolment: add one learner with a form, or many from a CSV (preview every row, errors and changes, then apply)."""

from __future__ import annotations

import csv
import functools
import importlib.resources
import io
import secrets
from dataclasses import replace
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest

from coachbox.admin import enrol_csv
from coachbox.admin import security as sec
from coachbox.admin.pages import back, field, files, render
from coachbox.admin.scope import LearnerScope, scope_for
from coachbox.store import admins, classes, enrolments, transaction

bp = Blueprint("admin_enrol", url_prefix="/admin")
# The uploaded text waits in the shared cache between preview and confirm (any server worker can confirm it).
PENDING_SECONDS = 30 * 60


@functools.lru_cache(maxsize=8)
def default_region(timezone: str) -> str:
    """The country of [org] default_timezone (zone.tab), for numbers written without +country code."""

    try:
        table = importlib.resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    except (ModuleNotFoundError, OSError):
        return "KE"
    for line in table.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2] == timezone:
            return parts[0]
    return "KE"


def _languages(settings) -> tuple[str, ...]:
    found = sorted(p.stem for p in (settings.content_dir / "locales").glob("*.toml"))
    return tuple(found) or (settings.org.default_language,)


def _region(request: Request, settings) -> str:
    value = field(request, "region").strip().upper()
    return value if len(value) == 2 and value.isalpha() else default_region(settings.org.default_timezone)


def _plan(conn, text: str, region: str, settings, scope: LearnerScope) -> enrol_csv.EnrolPlan:
    found = enrol_csv.plan(
        conn, text, region=region, languages=_languages(settings), default_language=settings.org.default_language
    )
    return found if scope.everyone else _within_classes(conn, found, scope)


def _within_classes(conn, found: enrol_csv.EnrolPlan, scope: LearnerScope) -> enrol_csv.EnrolPlan:
    """A teacher limited to classes enrols into their classes only: a row's cohort must be one of them (blank: their
    only class, or it must be said), and a number already enrolled outside their classes is not theirs to change."""
    listed = ", ".join(scope.classes)
    rows = []
    for row in found.rows:
        errors = list(row.errors)
        cohort = row.cohort
        if row.learner_id is not None and not classes.in_scope(conn, row.learner_id, scope.sql_one("learners.id")):
            errors.append("this number is already enrolled outside your classes: ask an owner to add them")
        elif cohort and cohort not in scope.classes:
            errors.append(f"“{cohort}” is not one of your classes ({listed})")
        elif not cohort and row.learner_id is None:
            if len(scope.classes) == 1:
                cohort = scope.classes[0]
            else:
                errors.append(f"say the class in the cohort column: one of yours ({listed})")
        rows.append(replace(row, cohort=cohort, errors=tuple(errors)))
    return enrol_csv.EnrolPlan(rows=rows, problems=found.problems)


def _pending_key(request: Request, token: str) -> str:
    return f"admin-enrol:{request.ctx.admin['admin_id']}:{token}"


@bp.get("/learners/enrol")
@sec.admin_view("editor")
async def enrol_form(request: Request):
    settings = request.app.ctx.services.settings
    return render(
        request,
        "enrol.html",
        plan=None,
        token="",
        **await _page_extras(request),
        errors=[],
        region=default_region(settings.org.default_timezone),
        columns=enrol_csv.COLUMNS,
    )


@bp.post("/learners/enrol")
@sec.admin_view("editor")
async def enrol_preview(request: Request):
    services = request.app.ctx.services
    upload = files(request).get("file")
    data = upload.body if upload is not None and upload.body else field(request, "csv").encode()
    region = _region(request, services.settings)
    if not data.strip():
        problem = "Choose a CSV file (or paste the rows)."
        return render(
            request,
            "enrol.html",
            plan=None,
            token="",
            **{**await _page_extras(request), "csv_error": problem},
            region=region,
            columns=enrol_csv.COLUMNS,
            errors=[problem],
            status=400,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel on Windows saves "CSV" in the ANSI code page
    plan = await services.db.run(_plan, text, region, services.settings, scope_for(request.ctx.admin))
    token = secrets.token_urlsafe(16)
    services.cache.set(_pending_key(request, token), {"text": text, "region": region}, expire=PENDING_SECONDS)
    return render(
        request,
        "enrol.html",
        plan=plan,
        token=token,
        **await _page_extras(request),
        region=region,
        columns=enrol_csv.COLUMNS,
        errors=plan.problems,
    )


@bp.post("/learners/enrol/confirm")
@sec.admin_view("editor")
async def enrol_confirm(request: Request):
    services = request.app.ctx.services
    settings = services.settings
    key = _pending_key(request, field(request, "token")[:40])
    pending = services.cache.get(key)
    if pending is None:
        raise BadRequest("This preview expired (30 minutes) or was already applied. Upload the file again.")

    def change(conn, now):
        # Checked again inside the transaction: the preview may be minutes old.
        with transaction(conn):
            plan = _plan(conn, pending["text"], pending["region"], settings, scope_for(request.ctx.admin))
            counts = enrolments.apply(
                conn,
                plan.valid,
                now,
                default_language=settings.org.default_language,
                default_timezone=settings.org.default_timezone,
                default_lesson_time=settings.org.lesson_time,
            )
            admins.audit(
                conn,
                request.ctx.admin["admin_id"],
                "learners.enrol_csv",
                None,
                now,
                skipped=plan.count("error"),
                **counts,
            )
        return {**counts, "skipped": plan.count("error")}

    counts = await services.db.run(change, services.clock.now())
    services.cache.delete(key)
    # The page says how many were added, updated and skipped (numbers only in the address, never text).
    return back("/admin/learners/enrol?" + urlencode(counts) + "#enrol-done")


# -- the page's own parts: the example with a real course, the courses' short names, how learners are reached ------


def example(slug: str) -> str:
    """The CSV example, naming a course that exists on this box (its short name, as the course column wants)."""
    return f"phone,name,course,cohort,language,lesson_time\n+254712345678,Amina Odhiambo,{slug},Form 2,en,07:30"


def reach(settings) -> dict:
    """How new learners first hear from the box: on WhatsApp the box may not write first without an approved
    template (the lesson nudge); the simulator has no such rule."""
    kind = settings.channel_kind
    templates = settings.meta.templates if kind == "meta" else settings.twilio.templates
    sender = settings.twilio.whatsapp_from.removeprefix("whatsapp:") if kind == "twilio" else ""
    return {
        "whatsapp": kind in ("twilio", "meta"),
        "nudge": "lesson_nudge" in templates,
        "section": f"[{kind}.templates] lesson_nudge",
        "sender": sender,
        "wa_link": f"https://wa.me/{sender.lstrip('+')}?text=hi" if sender.startswith("+") else "",
    }


async def _page_extras(request: Request) -> dict:
    services = request.app.ctx.services
    courses = await services.db.run(enrolments.courses_to_enrol)
    published = [c for c in courses if c["published"]] or courses
    args = request.args

    def count(name: str) -> int | None:
        value = args.get(name, "")
        return int(value) if value.isdigit() else None

    done = {name: count(name) for name in ("created", "updated", "skipped")}
    added = count("added")
    return {
        "example": example(published[0]["slug"] if published else "mobile-money-safety"),
        "courses": courses,
        "languages": _languages(services.settings),
        "reach": reach(services.settings),
        "done": done if done["created"] is not None else None,
        "added": await services.db.run(enrolments.learner_brief, added) if added else None,
        "how": "updated" if args.get("how") == "updated" else "created",
        "one": {},
        "one_errors": {},
        "csv_error": "",
        "csv_text": "",
    }


ONE_FIELDS = ("phone", "name", "course", "cohort", "language", "lesson_time")


# Which field of the one-learner form a row's problem is about (the CSV checks name no field), by its wording.
ONE_FIELD_WORDS = (
    ("lesson_time", ("time of day",)),
    ("language", ("language",)),
    ("cohort", ("class", "cohort")),
    ("phone", ("phone", "number")),
    ("name", ("name",)),
)


def _one_field_errors(errors: list[str]) -> dict[str, str]:
    """{field: its problems}: each problem beside the field it is about (the list at the top says them all)."""
    found: dict[str, list[str]] = {}
    for error in errors:
        name = next((name for name, words in ONE_FIELD_WORDS if any(w in error for w in words)), "phone")
        found.setdefault(name, []).append(error[:1].upper() + error[1:] + ".")
    return {name: " ".join(problems) for name, problems in found.items()}


@bp.post("/learners/enrol/one")
@sec.admin_view("editor")
async def enrol_one(request: Request):
    """Add (or update) one learner from the form: the same checks as a CSV row, applied at once."""
    services = request.app.ctx.services
    settings = services.settings
    values = {name: field(request, name).strip()[:120] for name in ONE_FIELDS}
    region = _region(request, settings)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(ONE_FIELDS)
    writer.writerow([values[name] for name in ONE_FIELDS])
    scope = scope_for(request.ctx.admin)

    def change(conn, now):
        if not values["phone"]:
            return None, ["write the learner's phone number"]
        with transaction(conn):
            plan = _plan(conn, text.getvalue(), region, settings, scope)
            if not plan.rows or plan.rows[0].errors:
                return None, list(plan.rows[0].errors if plan.rows else plan.problems)
            row = plan.rows[0]
            counts = enrolments.apply(
                conn,
                [row],
                now,
                default_language=settings.org.default_language,
                default_timezone=settings.org.default_timezone,
                default_lesson_time=settings.org.lesson_time,
            )
            learner = enrolments.live_learner(conn, row.e164 or "")
            learner_id = learner["id"] if learner is not None else 0
            admins.audit(
                conn, request.ctx.admin["admin_id"], "learners.enrol_one", f"learner:{learner_id}", now, **counts
            )
            return (learner_id, "created" if counts["created"] else "updated"), []

    outcome, errors = await services.db.run(change, services.clock.now())
    if outcome is None:
        extras = await _page_extras(request)
        return render(
            request,
            "enrol.html",
            plan=None,
            token="",
            region=region,
            columns=enrol_csv.COLUMNS,
            errors=[f"The learner was not added: {error}." for error in errors],
            status=400,
            **{**extras, "one": values, "one_errors": _one_field_errors(errors)},
        )
    learner_id, how = outcome
    return back(f"/admin/learners/enrol?added={learner_id}&how={how}#enrol-done")
