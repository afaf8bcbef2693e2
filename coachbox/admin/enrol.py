"""Bulk enrolment: upload a CSV, preview every row (errors and what will change), confirm to apply in one go."""

from __future__ import annotations

import functools
import importlib.resources
import secrets

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest

from coachbox.admin import enrol_csv
from coachbox.admin import security as sec
from coachbox.admin.pages import back, field, files, render
from coachbox.store import admins, enrolments, transaction

bp = Blueprint("admin_enrol", url_prefix="/admin")
# The uploaded text waits in the shared cache between preview and confirm (any server worker can confirm it).
PENDING_SECONDS = 30 * 60
EXAMPLE = "phone,name,course,cohort,language,lesson_time\n+254712345678,Amina Odhiambo,digital-money,Form 2,sw,07:30"


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


def _plan(conn, text: str, region: str, settings) -> enrol_csv.EnrolPlan:
    return enrol_csv.plan(
        conn, text, region=region, languages=_languages(settings), default_language=settings.org.default_language
    )


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
        example=EXAMPLE,
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
        return render(
            request,
            "enrol.html",
            plan=None,
            token="",
            example=EXAMPLE,
            region=region,
            columns=enrol_csv.COLUMNS,
            errors=["Choose a CSV file (or paste the rows)."],
            status=400,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel on Windows saves "CSV" in the ANSI code page
    plan = await services.db.run(_plan, text, region, services.settings)
    token = secrets.token_urlsafe(16)
    services.cache.set(_pending_key(request, token), {"text": text, "region": region}, expire=PENDING_SECONDS)
    return render(
        request,
        "enrol.html",
        plan=plan,
        token=token,
        example=EXAMPLE,
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
            plan = _plan(conn, pending["text"], pending["region"], settings)
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
        return counts

    await services.db.run(change, services.clock.now())
    services.cache.delete(key)
    return back("/admin/learners", "enrolled")
