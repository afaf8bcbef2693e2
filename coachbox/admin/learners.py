"""Learner pages: search/filter/paging, a learner's record and transcript, and the actions on them."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound
from sanic.response import raw

from coachbox.admin import security as sec
from coachbox.admin.pages import back, confirm_page, confirmed, field, render
from coachbox.admin.scope import scope_for
from coachbox.channels import states
from coachbox.channels.outbox import template_sid
from coachbox.channels.twilio.errors import describe
from coachbox.core import events
from coachbox.core.hostile import csv_row
from coachbox.core.services import Services
from coachbox.learning import timing
from coachbox.learning.backoff import MAX_UNANSWERED, Prompts, parse_gaps, paused
from coachbox.schedule.coach import Coach
from coachbox.store import admins, classes, progress, transaction
from coachbox.store import handover as handovers
from coachbox.store import learners as q
from coachbox.store import tutor as tutor_store
from coachbox.store.messages import OutboxDraft, enqueue_outbound, transcript_page
from coachbox.turns.runner import erase_learner, remove_files

bp = Blueprint("admin_learners", url_prefix="/admin")
WINDOW = timedelta(hours=24)
BODY_LIMIT = 1600  # Twilio's limit for one message (error 21617)
ADMIN_KIND = "admin"  # outbox kind; outside the window the sender looks up [twilio.templates] admin


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _filter(request: Request) -> q.LearnerFilter:
    args = request.args
    return q.LearnerFilter(
        scope=scope_for(request.ctx.admin).sql("l.id"),
        q=(args.get("q") or "")[:100],
        course_id=_int(args.get("course")),
        status=args.get("status") or "",
        cohort=(args.get("cohort") or "")[:80],
        inactive_days=_int(args.get("inactive")),
        page=max(1, _int(args.get("page")) or 1),
    )


@bp.get("/learners")
@sec.admin_view("viewer")
async def learner_list(request: Request):
    services = request.app.ctx.services
    f = _filter(request)
    page = await services.db.run(q.search, f, services.clock.now())
    options = limit_options(request, await services.db.run(q.filter_options))
    query = {k: v for k, v in request.args.items() if k != "page"}
    return render(
        request,
        "learners.html",
        page=page,
        f=f,
        options=options,
        statuses=q.STATUSES,
        query="&".join(f"{k}={_url(v[0])}" for k, v in query.items()),
    )


def limit_options(request: Request, options: dict) -> dict:
    """A teacher limited to classes chooses among their classes only (the cohort filter, the class forms)."""
    scope = scope_for(request.ctx.admin)
    return options if scope.everyone else {**options, "cohorts": list(scope.classes)}


def _url(value: str) -> str:
    return quote(value, safe="")


@bp.get("/learners.csv")
@sec.admin_view("editor")
async def learner_csv(request: Request):
    """The filtered list as CSV (all pages), for spreadsheets."""
    services = request.app.ctx.services
    f = _filter(request)
    page = await services.db.run(
        q.search, q.LearnerFilter(**{**f.__dict__, "page": 1, "per_page": 100_000}), services.clock.now()
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "name", "phone", "status", "opted_out", "cohort", "course", "streak", "last_message_at"])
    for r in page.rows:
        writer.writerow(
            csv_row(  # every cell: no formula from a learner's name reaches a spreadsheet (core.hostile)
                [
                    r["id"],
                    r["name"] or r["profile_name"],
                    r["phone"],
                    r["status"],
                    r["opted_out"],
                    r["cohort"],
                    r["course_title"],
                    r["streak"],
                    r["last_inbound_at"],
                ]
            )
        )
    await services.db.run(
        _audit, request.ctx.admin["admin_id"], "learners.export_csv", None, services.clock.now(), rows=len(page.rows)
    )
    return raw(
        out.getvalue().encode("utf-8-sig"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="learners.csv"'},
    )


def _audit(conn, admin_id, action, target, now, **detail):
    admins.audit(conn, admin_id, action, target, now, **detail)


async def _learner(request: Request, learner_id: int):
    # Outside the admin's classes is "no such learner" (404), as for one who never existed: nothing is revealed.
    row = await request.app.ctx.services.db.run(q.learner, learner_id, scope_for(request.ctx.admin).sql_one("l.id"))
    if row is None:
        raise NotFound("No such learner.")
    return row


learner_in_scope = _learner  # for the other admin areas (classes): a learner this admin may see, else 404


def window_state(learner, now: datetime, settings) -> dict:
    """What the send form says about WhatsApp's 24-hour rule for this learner."""

    last = datetime.fromisoformat(learner["last_inbound_at"]) if learner["last_inbound_at"] else None
    whatsapp = (learner["channel_key"] or "").startswith("whatsapp:")
    open_until = last + WINDOW if last else None
    is_open = bool(open_until and open_until > now)
    return {
        "whatsapp": whatsapp,
        "open": is_open or not whatsapp,
        "open_until": open_until.isoformat() if open_until else None,
        "hours_left": round((open_until - now).total_seconds() / 3600, 1) if open_until and is_open else 0,
        "template": template_sid(settings, ADMIN_KIND),
    }


def reminders_state(prompts: Prompts, settings) -> str:
    """The learner page's line on nudges and reminders: the back-off rule (learning.backoff) made visible."""
    schedule = settings.schedule
    stopped = paused(prompts, daily_days=schedule.reminder_daily_days, gaps=parse_gaps(schedule.reminder_backoff_days))
    if stopped is not None:
        return f"paused: {stopped} unanswered (they start again when the learner writes)"
    if prompts.days:
        return (
            f"{prompts.days} unanswered since their last message (latest {prompts.last}); they stop at {MAX_UNANSWERED}"
        )
    return f"on: at most one a day while the learner is silent, none after {MAX_UNANSWERED} unanswered"


@dataclass(frozen=True)
class LocalTime:
    """The learner's wall clock beside the send button: "it is 23:10 for Amina", and whether their quiet hours run."""

    who: str
    clock: str  # "23:10"
    timezone: str
    quiet: bool
    resumes: datetime | None  # the end of their quiet hours, when quiet
    resumes_clock: str = ""  # "07:00"


def local_time(learner, now: datetime, settings) -> LocalTime:
    tz = learner["timezone"] or settings.org.default_timezone
    quiet = timing.QuietHours.of(settings.schedule.quiet_hours_start, settings.schedule.quiet_hours_end)
    resumes = quiet.next_allowed(now, tz)
    held = resumes > now
    return LocalTime(
        who=learner["name"] or learner["profile_name"] or "the learner",
        clock=f"{now.astimezone(timing.zone(tz)):%H:%M}",
        timezone=tz,
        quiet=held,
        resumes=resumes if held else None,
        resumes_clock=f"{resumes.astimezone(timing.zone(tz)):%H:%M}" if held else "",
    )


def teacher_message(
    learner, body: str, key: str, now: datetime, settings, *, later: bool
) -> tuple[OutboxDraft, datetime | None]:
    """A teacher's message to one learner (the admin page's and the API's): it answers from a person who chose to
    send it now, so it goes now whatever the hour (within the 24-hour window; the admin template outside it).
    `later` (only during the learner's quiet hours): it waits for their end instead, as what the box sends on its
    own does, so STOP meanwhile cancels it. Returns the draft and the instant it waits for (None: now)."""
    until = local_time(learner, now, settings).resumes if later else None
    draft = OutboxDraft(
        body=body,
        kind=ADMIN_KIND,
        idempotency_key=key,
        template_key=ADMIN_KIND,
        content_variables={"1": body},
        proactive=until is not None,
    )
    return draft, until


async def send_teacher_message(
    services: Services,
    learner,
    body: str,
    key: str,
    *,
    later: bool,
    admin_id: int | None = None,
    api_token: int | None = None,
) -> tuple[int | None, datetime | None]:
    """Queue a teacher's message (the admin page's and the API's), audited in the same transaction, shown on open
    transcripts, and sent at once unless it waits for the end of quiet hours. Returns (message id, its wait)."""
    now = services.clock.now()
    draft, until = teacher_message(learner, body, key, now, services.settings, later=later)
    learner_id = learner["id"]

    def enqueue(conn):
        with transaction(conn):
            message_id = enqueue_outbound(
                conn,
                learner_id=learner_id,
                channel=learner["channel"],
                address=learner["channel_key"],
                draft=draft,
                now=now,
                next_attempt_at=until,
            )
            via = {"api_token": api_token} if api_token is not None else {}
            admins.audit(
                conn,
                admin_id,
                "learner.message",
                f"learner:{learner_id}",
                now,
                **via,
                message_id=message_id,
                chars=len(body),
                **({"send_at": until.isoformat()} if until else {}),
            )
        return message_id

    message_id = await services.db.run(enqueue)
    events.publish(services, f"learner:{learner_id}", "outbox")
    if services.sender is not None and until is None:
        services.sender.kick()  # send now rather than at the next poll
    return message_id, until


@bp.get("/learners/<learner_id:int>")
@sec.admin_view("viewer")
async def learner_detail(request: Request, learner_id: int):
    return await learner_page(request, learner_id)


async def learner_page(
    request: Request,
    learner_id: int,
    *,
    message: dict | None = None,
    class_add: dict | None = None,
    status: int = 200,
):
    """A learner's page; `message` and `class_add` ({"body", "error"}) are what a refused form had typed, back in
    its box with the problem beside it."""
    services = request.app.ctx.services
    learner = await _learner(request, learner_id)
    before = _int(request.args.get("before"))
    tz = learner["timezone"] or services.settings.org.default_timezone

    def load(conn):
        return (
            q.enrollments(conn, learner_id),
            q.badges(conn, learner_id),
            q.answers(conn, learner_id),
            transcript_page(conn, learner_id, before_id=before),
            q.filter_options(conn),
            tutor_store.exchanges_for_learner(conn, learner_id, limit=500),
            progress.prompts(conn, {learner_id: (tz, learner["last_inbound_at"])}),
            classes.of_learner(conn, learner_id),
            classes.names(conn),
        )

    (
        enrollments,
        badges,
        answers,
        messages,
        options,
        exchanges,
        prompts,
        learner_classes,
        class_names,
    ) = await services.db.run(load)
    scope = scope_for(request.ctx.admin)
    # Tutor answers in the transcript, by their outbound message: marked as AI and flaggable by teachers.
    tutor = {ex.message_id: ex for ex in exchanges if ex.message_id is not None}
    now = services.clock.now()
    tz = learner["timezone"] or services.settings.org.default_timezone

    return render(
        request,
        "learner.html",
        status=status,
        message=message or {"body": "", "error": ""},
        class_add=class_add or {"body": "", "error": ""},
        learner=learner,
        enrollments=enrollments,
        badges=badges,
        answers=answers,
        messages=messages,
        courses=options["courses"],
        describe=describe,
        state=lambda m: states.of(m, now, tz),  # each message's state in words (held until 07:00, failed…)
        tutor=tutor,
        window=window_state(learner, now, services.settings),
        reminders=reminders_state(prompts.get(learner_id, Prompts()), services.settings),
        local=local_time(learner, now, services.settings),
        limit=BODY_LIMIT,
        older=messages[0]["id"] if len(messages) == 100 else None,
        errors=[],
        retention_days=services.settings.schedule.message_retention_days,
        live=before is None,
        learner_classes=learner_classes,
        # The classes the admin may put this learner in: theirs when limited (admin.scope), else every class.
        class_choices=[c for c in (class_names if scope.everyone else scope.classes) if c not in learner_classes],
        class_limited=not scope.everyone,
    )  # an older page stays put: new messages belong on the newest


@bp.post("/learners/<learner_id:int>/send")
@sec.admin_view("editor")
async def send_message(request: Request, learner_id: int):
    services = request.app.ctx.services
    learner = await _learner(request, learner_id)
    body = field(request, "body").strip()
    if not body or len(body) > BODY_LIMIT:
        problem = f"Write a message of 1 to {BODY_LIMIT:,} characters (this one has {len(body):,})."
        return await learner_page(request, learner_id, message={"body": body, "error": problem}, status=400)
    if learner["opted_out"]:
        raise BadRequest("This learner sent STOP: WhatsApp rules forbid messaging them until they send START.")
    later = field(request, "when") == "after_quiet_hours"
    _, until = await send_teacher_message(
        services, learner, body, f"admin:{uuid.uuid4().hex}", later=later, admin_id=request.ctx.admin["admin_id"]
    )
    return back(f"/admin/learners/{learner_id}", "scheduled_message" if until else "sent")


@bp.post("/learners/<learner_id:int>/tutor/<exchange_id:int>/<action:flag|unflag>")
@sec.admin_view("editor")
async def flag_tutor_answer(request: Request, learner_id: int, exchange_id: int, action: str):
    """A teacher marks an AI tutor answer as wrong (with a note), or takes the mark back; both are audited."""
    services = request.app.ctx.services
    await _learner(request, learner_id)
    note = field(request, "note").strip()[:500]
    admin_id = request.ctx.admin["admin_id"]

    def change(conn, now):
        owner = conn.execute("SELECT learner_id FROM tutor_exchanges WHERE id = ?", (exchange_id,)).fetchone()
        if owner is None or owner[0] != learner_id:
            return False
        with transaction(conn):
            if action == "flag":
                flagged = tutor_store.flag_answer(conn, exchange_id, admin_id=admin_id, note=note, now=now)
                if flagged:  # a flagged answer is an inbox item: the teacher can send the learner a correction
                    handovers.open_handover(
                        conn,
                        learner_id,
                        "tutor_flagged",
                        now,
                        detail=note,
                        tutor_exchange_id=exchange_id,
                        key=f"tutor_flagged:{exchange_id}:{now.isoformat()}",
                    )
                return flagged
            _audit(conn, admin_id, "tutor.unflag", f"tutor_exchange:{exchange_id}", now)
            return tutor_store.unflag_answer(conn, exchange_id)

    if not await services.db.run(change, services.clock.now()):
        raise NotFound("No such tutor answer for this learner.")
    events.publish(services, "inbox")
    return back(f"/admin/learners/{learner_id}", "flagged" if action == "flag" else "unflagged")


@bp.post("/learners/<learner_id:int>/<action:pause|resume>")
@sec.admin_view("editor")
async def pause_resume(request: Request, learner_id: int, action: str):
    services = request.app.ctx.services
    await _learner(request, learner_id)

    def change(conn, now):
        with transaction(conn):
            q.set_status(conn, learner_id, "paused" if action == "pause" else "active", now)
            admins.audit(conn, request.ctx.admin["admin_id"], f"learner.{action}", f"learner:{learner_id}", now)

    await services.db.run(change, services.clock.now())
    return back(f"/admin/learners/{learner_id}", "paused" if action == "pause" else "resumed")


@bp.post("/learners/<learner_id:int>/move")
@sec.admin_view("editor")
async def move(request: Request, learner_id: int):
    """Two steps: the first shows what the move will do (kept history, the place in the new course, the language);
    only the second, confirmed, moves the learner."""
    services = request.app.ctx.services
    learner = await _learner(request, learner_id)
    course_id = _int(field(request, "course_id"))
    if course_id is None:
        raise BadRequest("Choose a course.")
    plan = await services.db.run(q.plan_move, learner_id, course_id)
    if plan is None:
        raise BadRequest("No such course.")
    page = f"/admin/learners/{learner_id}"
    if plan.same_course:
        return back(page)  # already there: nothing to do
    if not confirmed(request):
        return confirm_page(
            request,
            heading=f"Move {learner['name'] or learner['profile_name'] or 'this learner'} to {plan.title}?",
            consequences=move_consequences(learner, plan, Coach.of(services).texts.language_name),
            action=f"{page}/move",
            fields={"course_id": str(course_id)},
            button=f"Move to {plan.title}",
            cancel=page,
        )

    def change(conn, now):
        with transaction(conn):
            q.move_course(conn, learner_id, course_id, now)
            admins.audit(
                conn,
                request.ctx.admin["admin_id"],
                "learner.move",
                f"learner:{learner_id}",
                now,
                course_id=course_id,
                from_course_id=plan.leaving["course_id"] if plan.leaving else None,
                language=plan.course_language,
            )

    await services.db.run(change, services.clock.now())
    return back(page, "moved")


def move_consequences(learner, plan: q.CourseMove, language_name: Callable[[str], str]) -> list[str]:
    """What moving the learner does, in sentences, exactly as q.move_course does it."""
    name = learner["name"] or learner["profile_name"] or "The learner"
    said = []
    leaving = plan.leaving
    if leaving is not None:
        kept = (
            f"{name}'s enrolment in {leaving['title']} is kept with its history: {leaving['done']} of "
            f"{leaving['lessons']} lessons done, and every quiz answer and badge stays on their record."
        )
        if leaving["status"] == "active":
            kept += " It is marked as left; if they choose it again (COURSES), they carry on where they were."
        said.append(kept)
    joining = plan.joining
    if joining is None:
        said.append(f"They start {plan.title} at its first lesson (it has {plan.lessons}).")
    elif joining["status"] == "completed":
        said.append(f"They completed {plan.title} before: it stays completed, so it sends them no new lessons.")
    else:
        said.append(
            f"They were in {plan.title} before: they carry on where they were ({joining['done']} of "
            f"{joining['lessons']} lessons done)."
        )
    if plan.course_language != plan.learner_language:
        said.append(
            f"Their language changes from {language_name(plan.learner_language)} to "
            f"{language_name(plan.course_language)}, the course's: the bot speaks it to them from now on."
        )
    else:
        said.append(f"Their language stays {language_name(plan.learner_language)}.")
    if learner["opted_out"]:
        said.append("They sent STOP: nothing is sent to them until they send START.")
    elif learner["status"] == "paused":
        said.append("They are paused: no lessons until they are resumed.")
    elif joining is None or joining["status"] != "completed":
        if learner["status"] == "finished":
            said.append("They had finished their courses: they are active again.")
        said.append(f"Nothing is sent now: their next lesson comes at their lesson time, {learner['lesson_time']}.")
    return said


@bp.post("/learners/<learner_id:int>/cohort")
@sec.admin_view("editor")
async def cohort(request: Request, learner_id: int):
    services = request.app.ctx.services
    await _learner(request, learner_id)
    value = classes.clean_name(field(request, "cohort"))
    scope = scope_for(request.ctx.admin)
    if not scope.everyone and value not in scope.classes:  # the main class moves the learner: only to theirs
        raise BadRequest(f"You can make only one of your classes a learner's main class: {', '.join(scope.classes)}.")

    def change(conn, now):
        with transaction(conn):
            q.set_cohort(conn, learner_id, value, now)
            admins.audit(
                conn, request.ctx.admin["admin_id"], "learner.cohort", f"learner:{learner_id}", now, cohort=value
            )

    await services.db.run(change, services.clock.now())
    return back(f"/admin/learners/{learner_id}", "saved")


@bp.get("/learners/<learner_id:int>/export")
@sec.admin_view("editor")
async def export(request: Request, learner_id: int):
    services = request.app.ctx.services
    await _learner(request, learner_id)
    data = await services.db.run(q.export_learner, learner_id)
    await services.db.run(
        _audit, request.ctx.admin["admin_id"], "learner.export", f"learner:{learner_id}", services.clock.now()
    )
    return raw(
        json.dumps(data, ensure_ascii=False, indent=2, default=str).encode(),
        content_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="learner-{learner_id}.json"'},
    )


def erase_question(row, stored: dict) -> dict:
    """The confirm page before erasing: whom, what goes (with counts), what stays, and that it cannot be undone."""
    name = row["name"] or row["profile_name"] or f"learner {row['id']}"

    kinds = (("messages", "message"), ("answers", "quiz answer"), ("enrollments", "course enrolment"))
    counts = [(len(stored.get(key) or []), one) for key, one in (*kinds, ("certificates", "certificate"))]
    listed = "".join(f"{n:,} {one}{'' if n == 1 else 's'}, " for n, one in counts if n)
    return {
        "heading": f"Erase {name} for good?",
        "consequences": [
            f"Everything stored about {name} is deleted: their phone number and name, {listed}their progress and "
            "badges.",
            "Dashboard totals keep an anonymous count; nothing left names them. The audit log records the erasure "
            "by learner number only.",
            "This cannot be undone. If they write again, they start as a new learner.",
            "To give them a copy first, use Export their data on their page.",
        ],
        "action": f"/admin/learners/{row['id']}/delete",
        "button": f"Erase {name} for good",
        "cancel": f"/admin/learners/{row['id']}",
        "keep": "Keep this learner",
        "danger": True,
    }


@bp.post("/learners/<learner_id:int>/delete")
@sec.admin_view("owner")
async def delete(request: Request, learner_id: int):
    services = request.app.ctx.services
    row = await _learner(request, learner_id)
    if field(request, "confirm") != "DELETE" and not confirmed(request):  # DELETE typed: the API's older form
        return confirm_page(request, **erase_question(row, await services.db.run(q.export_learner, learner_id)))

    def erase(conn, now):
        # The learner's own DELETE and this one are the same erasure: no personal trace either way.
        with transaction(conn):
            files = erase_learner(conn, services.cache, learner_id, now, data_dir=services.settings.data_dir)
            # The audit row names the id only: the person's details are exactly what was erased.
            admins.audit(conn, request.ctx.admin["admin_id"], "learner.delete", f"learner:{learner_id}", now)
        return files

    remove_files(services.settings, await services.db.run(erase, services.clock.now()))
    return back("/admin/learners", "deleted")
