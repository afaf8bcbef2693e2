"""Broadcasts: compose a message to all learners, a course or a cohort, schedule it, follow its delivery, cancel it.

This page only writes the broadcasts row; the scheduler's fan-out turns it into outbox rows when it is due
(skipping opted-out and paused learners), and the sender applies WhatsApp's 24-hour rule to each row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound

from coachbox.admin import security as sec
from coachbox.admin.pages import back, confirm_page, confirmed, field, form, render
from coachbox.admin.scope import scope_for
from coachbox.channels import states
from coachbox.channels.outbox import template_sid
from coachbox.core import events
from coachbox.learning import timing
from coachbox.store import admins, learners, transaction
from coachbox.store import broadcasts as q

bp = Blueprint("admin_broadcasts", url_prefix="/admin")
BODY_LIMIT = 1600  # one WhatsApp message (Twilio error 21617 beyond)
FAR_FUTURE = timedelta(days=366)
EMPTY_FORM = {"body": "", "audience": "all", "course_id": "", "cohort": "", "when": ""}
# Sent "now" means within this much of now: a time picked a minute ahead is still "now" for quiet hours.
NOW_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class QuietPreview:
    """Before a broadcast sent now goes: how many recipients are in their quiet hours, and when they get it."""

    recipients: int
    held: int
    lines: tuple[str, ...]  # "120 at 07:00 tomorrow (Africa/Nairobi)", soonest first


def quiet_preview(conn, audience: str, when: datetime, now: datetime, settings) -> QuietPreview:
    quiet = timing.QuietHours.of(settings.schedule.quiet_hours_start, settings.schedule.quiet_hours_end)
    later: dict[tuple[datetime, str], int] = {}
    recipients = 0
    for tz, n in q.audience_by_timezone(conn, audience):
        recipients += n
        allowed = quiet.next_allowed(when, tz or settings.org.default_timezone)
        if allowed > when:
            key = (allowed, tz or settings.org.default_timezone)
            later[key] = later.get(key, 0) + n
    lines = tuple(f"{n:,} at {states.clock_words(at, now, tz)} ({tz})" for (at, tz), n in sorted(later.items()))
    return QuietPreview(recipients, sum(later.values()), lines)


def _form_context(request: Request, conn, form: dict, errors: dict[str, str]) -> dict:
    """The page's context; `errors` is {field: its problem}, shown beside the field and listed at the top."""
    settings = request.app.ctx.services.settings
    scope = scope_for(request.ctx.admin)
    options = learners.filter_options(conn)
    return {
        # A teacher limited to classes: only their classes' broadcasts, and only their classes to choose from.
        "broadcasts": q.recent(conn, audiences=None if scope.everyone else [f"cohort:{c}" for c in scope.classes]),
        "options": options if scope.everyone else {**options, "cohorts": list(scope.classes)},
        "class_limited": not scope.everyone,
        "form": form,
        "errors": list(errors.values()),
        "field_errors": errors,
        "limit": BODY_LIMIT,
        "timezone": settings.org.default_timezone,
        "template_sid": template_sid(settings, q.TEMPLATE_KEY),
        "quiet": None,
        "quiet_at": None,
    }


def _read_form(request: Request) -> dict:
    f = form(request)
    return {
        "body": (f.get("body") or "").strip(),
        "audience": f.get("audience") or "all",
        "course_id": f.get("course_id") or "",
        "cohort": (f.get("cohort") or "").strip()[:80],
        "when": (f.get("when") or "").strip(),
    }


def _validate(request: Request, conn, form: dict, now: datetime, tz: str) -> tuple[str, datetime, dict[str, str]]:
    errors: dict[str, str] = {}
    if not form["body"] or len(form["body"]) > BODY_LIMIT:
        errors["body"] = f"Write a message of 1 to {BODY_LIMIT:,} characters."
    audience = "all"
    if form["audience"] == "course":
        course_id = int(form["course_id"]) if form["course_id"].isdigit() else None
        if course_id is None or conn.execute("SELECT 1 FROM courses WHERE id = ?", (course_id,)).fetchone() is None:
            errors["course_id"] = "Choose a course."
        audience = f"course:{course_id}"
    elif form["audience"] == "cohort":
        if not form["cohort"]:
            errors["cohort"] = "Choose a class."
        audience = f"cohort:{form['cohort']}"
    elif form["audience"] != "all":
        errors["audience"] = "Choose who receives it."
    scope = scope_for(request.ctx.admin)
    if audience != "cohort:" and not audience_allowed(request, audience):
        errors["cohort"] = f"You can send broadcasts only to your classes: choose one ({', '.join(scope.classes)})."
    when = now
    if form["when"]:
        try:
            # <input type="datetime-local"> gives wall-clock time: read it in the school's time zone.
            when = datetime.fromisoformat(form["when"]).replace(tzinfo=ZoneInfo(tz)).astimezone(now.tzinfo)
        except ValueError:
            errors["when"] = "The time is not a date and time (YYYY-MM-DDTHH:MM)."
        else:
            if when < now - timedelta(minutes=5):
                errors["when"] = "That time has passed: leave it empty to send now."
            elif when > now + FAR_FUTURE:
                errors["when"] = "Schedule at most a year ahead."
            when = max(when, now)
    return audience, when, errors


@bp.get("/broadcasts")
@sec.admin_view("viewer")
async def broadcast_list(request: Request):
    services = request.app.ctx.services
    context = await services.db.run(lambda conn: _form_context(request, conn, EMPTY_FORM, {}))
    return render(request, "broadcasts.html", **context)


@bp.post("/broadcasts")
@sec.admin_view("editor")
async def broadcast_create(request: Request):
    services = request.app.ctx.services
    form = _read_form(request)
    tz = services.settings.org.default_timezone
    quiet_ok = field(request, "quiet_ok") == "yes"

    def create(conn, now):
        audience, when, errors = _validate(request, conn, form, now, tz)
        if errors:
            return None, _form_context(request, conn, form, errors)
        if not quiet_ok:
            # Sent now, or at a time when some recipients are in their quiet hours: say so (in their time) first.
            preview = quiet_preview(conn, audience, when, now, services.settings)
            if preview.held:
                later = when > now + NOW_SLACK
                return None, {**_form_context(request, conn, form, {}), "quiet": preview, "quiet_at": later and when}
        with transaction(conn):
            broadcast_id = q.create(
                conn,
                body=form["body"],
                audience=audience,
                scheduled_at=when,
                created_by=request.ctx.admin["admin_id"],
                now=now,
            )
            admins.audit(
                conn,
                request.ctx.admin["admin_id"],
                "broadcast.create",
                f"broadcast:{broadcast_id}",
                now,
                audience=audience,
                scheduled_at=when.isoformat(),
                chars=len(form["body"]),
                reach=q.audience_size(conn, audience),
            )
        return broadcast_id, None

    broadcast_id, context = await services.db.run(create, services.clock.now())
    if broadcast_id is None:
        return render(request, "broadcasts.html", status=200 if context["quiet"] else 400, **context)
    return back(f"/admin/broadcasts/{broadcast_id}", "broadcast")


@bp.get("/broadcasts/<broadcast_id:int>")
@sec.admin_view("viewer")
async def broadcast_detail(request: Request, broadcast_id: int):
    services = request.app.ctx.services
    now = services.clock.now()
    row, counts, reach, course = await _load(request, broadcast_id, now)
    tz = services.settings.org.default_timezone
    quiet = None
    if row["status"] == "scheduled":  # who will wait for the end of their quiet hours, at their time
        at = datetime.fromisoformat(row["scheduled_at"])
        quiet = await services.db.run(quiet_preview, row["audience"], at, now, services.settings)
    return render(
        request,
        "broadcast.html",
        b=row,
        counts=counts,
        words=progress_words(row, counts, now, tz),
        held=counts.held_words(now, tz),
        cancellable=cancellable(row["status"], counts),
        overdue=row["status"] == "scheduled" and datetime.fromisoformat(row["scheduled_at"]) < now - NOW_SLACK,
        reach=reach,
        course_title=course["title"] if course else None,
        quiet=quiet,
        labels=states.STATES,
        shown=SHOWN,
    )


async def _load(request: Request, broadcast_id: int, now: datetime):
    """The broadcast, its messages' states, how many it can reach now and its course (NotFound when none)."""

    def load(conn):
        row = q.get(conn, broadcast_id)
        if row is None:
            return None
        course = None
        if row["audience"].startswith("course:"):
            course = conn.execute("SELECT title FROM courses WHERE id = ?", (int(row["audience"][7:]),)).fetchone()
        counts = states.count(q.state_groups(conn, broadcast_id, now))
        return row, counts, q.audience_size(conn, row["audience"]), course

    loaded = await request.app.ctx.services.db.run(load)
    if loaded is None or not audience_allowed(request, loaded[0]["audience"]):
        raise NotFound("No such broadcast.")
    return loaded


def audience_allowed(request: Request, audience: str) -> bool:
    """A teacher limited to classes (admin.scope) sends to, and sees the broadcasts of, their classes only."""
    scope = scope_for(request.ctx.admin)
    kind, _, name = audience.partition(":")
    return scope.everyone or (kind == "cohort" and name in scope.classes)


# The states a broadcast's page always shows (others only when some row is in them).
SHOWN = ("held", "sent", "delivered", "read", "failed", "cancelled")


def cancellable(status: str, counts: states.Counts) -> bool:
    """Can Cancel still stop something? Before and during the fan-out, and while any row is not sent yet."""
    return status in ("scheduled", "sending") or (status == "done" and counts.unsent > 0)


def progress_words(row, counts: states.Counts, now: datetime, tz: str) -> str:
    """The broadcast as a whole, in words: not 'done' while rows wait for the end of quiet hours."""
    status = row["status"]
    if status == "scheduled":
        return f"scheduled for {states.clock_words(datetime.fromisoformat(row['scheduled_at']), now, tz)} ({tz})"
    if status == "sending":
        return "being queued for each learner"
    if status == "cancelled":
        return "cancelled: messages not sent by then will not go out"
    if counts.unsent:
        return f"queued for every learner; {counts.unsent:,} not sent yet"
    return "finished: every message was handed to WhatsApp or settled"


def live_state(row, counts: states.Counts, now: datetime, tz: str) -> dict:
    """What the page's live counters show ([data-key] → text)."""
    held = counts.held_words(now, tz)
    return {
        **counts.by_state,
        "total": counts.total,
        "status": progress_words(row, counts, now, tz) if row is not None else "deleted",
        "held_until": "; ".join(f"{n:,} until {when}" for when, n in held),
    }


@bp.post("/broadcasts/<broadcast_id:int>/cancel")
@sec.admin_view("editor")
async def broadcast_cancel(request: Request, broadcast_id: int):
    services = request.app.ctx.services
    if not scope_for(request.ctx.admin).everyone:
        await _load(request, broadcast_id, services.clock.now())  # another class's broadcast: 404
    if not confirmed(request):
        row, counts, reach, _ = await _load(request, broadcast_id, services.clock.now())
        if not cancellable(row["status"], counts):
            raise BadRequest("Nothing of this broadcast can be cancelled any more: every message is sent or settled.")
        if row["status"] == "scheduled":
            stops = [f"It is not sent to anyone: none of the {reach:,} learners it would reach now gets it."]
        else:
            n = counts.unsent
            stops = [
                f"{n:,} message{'' if n == 1 else 's'} not sent yet will not go out (marked cancelled).",
                "Messages already sent stay sent: WhatsApp cannot take them back.",
            ]
        return confirm_page(
            request,
            heading=f"Cancel broadcast {broadcast_id}?",
            consequences=[*stops, "This cannot be undone: to send it later, write a new broadcast."],
            action=f"/admin/broadcasts/{broadcast_id}/cancel",
            button="Cancel broadcast",
            cancel=f"/admin/broadcasts/{broadcast_id}",
            keep="Keep it",
            danger=True,
        )

    def change(conn, now):
        with transaction(conn):
            cancelled = q.cancel(conn, broadcast_id, now)
            if cancelled is not None:
                admins.audit(
                    conn,
                    request.ctx.admin["admin_id"],
                    "broadcast.cancel",
                    f"broadcast:{broadcast_id}",
                    now,
                    unsent_cancelled=cancelled,
                )
        return cancelled

    if await services.db.run(change, services.clock.now()) is None:
        raise BadRequest("Nothing of this broadcast can be cancelled any more: every message is sent or settled.")
    events.publish(services, f"broadcast:{broadcast_id}", "outbox")
    return back(f"/admin/broadcasts/{broadcast_id}", "cancelled")
