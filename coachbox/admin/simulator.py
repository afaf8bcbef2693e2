"""The simulator panel: a phone-shaped WhatsApp chat to try the bot as a test learner, through the real engine, with
time travel for that one learner (next lesson, one day, the end of the course) and a reset.

The page is the learner's phone: it shows what the box has sent them (and what they wrote), then receives every
later message live as it is sent (admin.live's simulator stream, channels.simulator.Feed): the tutor's answers, the
follow-up quiz, the next daily lesson, badges, certificates, broadcasts.

Time travel never moves the box's clock (every other learner, the worker and the sender live on it). It moves the
test learner's own history into the past instead (store.time_travel.shift_learner: every instant and local date
stored about them), so that at the real now they are exactly a learner for whom that much time has gone by; then
the real scheduler runs on the real clock (schedule.daily, what the worker runs every minute) and the sender sends,
so what arrives is what a real learner would get, made by the same code. docs/admin.md, "The simulator".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sanic import Blueprint, Request
from sanic.exceptions import NotFound

from coachbox.admin import security as sec
from coachbox.admin.pages import back, confirm_page, confirmed, field, render
from coachbox.channels import states
from coachbox.channels.outbox import deliver_due
from coachbox.channels.simulator import SENT_STATUSES
from coachbox.learning import timing
from coachbox.schedule import daily
from coachbox.schedule.coach import Coach
from coachbox.store import admins, learners, transaction
from coachbox.store import time_travel as travel
from coachbox.store.messages import transcript_page, unsent_outbound
from coachbox.turns import sessions
from coachbox.turns.runner import erase_learner, remove_files

bp = Blueprint("admin_simulator", url_prefix="/admin")
DEFAULT_PHONE = "+15550100001"  # a reserved-for-fiction number: never a real learner
PHONE = re.compile(r"\+[1-9]\d{6,14}")
SHOWN = 100  # messages on the phone when the page opens (the newest; the chat opens at the last one)
DAY = timedelta(days=1)

# What the page says after a time-travel step or a reset (?moved=…: fixed codes, never free text in a link).
OUTCOMES = {
    "lesson": "The test learner is now at their next lesson time: the scheduler sent what a learner gets then.",
    "day": "One day went by for the test learner: the scheduler sent what was due in that day.",
    "end": (
        "Skipped to the last lesson: the lessons before it are marked done with every answer right, and the last "
        "one came now. Answer its quiz to finish the course and see the certificate."
    ),
    "reset": "The test learner was erased: write hi to start again as a new learner.",
    "quiet": (
        "It is night for the test learner (their quiet hours): the box never sends lessons then, so time travel "
        "waits for the morning. Chat still works."
    ),
    "nothing": "Nothing is scheduled for the test learner: start a course first (write hi), or resume them.",
    "finished": "The test learner has had every lesson of this course already.",
    "nobody": "There is no test learner yet: write hi first.",
}


def _phone(value: str | None) -> str:
    return value if value and PHONE.fullmatch(value) else DEFAULT_PHONE


def _page(phone: str, moved: str | None = None) -> str:
    url = f"/admin/simulator?phone={quote(phone)}"
    return url + (f"&moved={moved}" if moved else "") + "#sim-chat"


def _enabled(services) -> None:
    if services.settings.channel_kind != "simulator":
        raise NotFound("The simulator is off while a real channel (Twilio or Meta) is configured.")


@dataclass(frozen=True)
class Upcoming:
    """What the box has scheduled for the test learner next, for the page's 'Coming up' card."""

    status: str
    course: travel.Course | None
    next_lesson_at: datetime | None
    messages: list[tuple[str, str, str]]  # (kind, first words, state in words) of messages still to go
    reviews_due: int
    quiet_now: bool


def upcoming(conn, learner_id: int, now: datetime, quiet: timing.QuietHours) -> Upcoming | None:
    row = learners.learner(conn, learner_id)
    if row is None:
        return None
    tz = row["timezone"]
    pending = [
        (m["kind"], _first_words(m["body"]), states.of(m, now, tz).words)
        for m in unsent_outbound(conn, learner_id, 2**62)
    ]
    return Upcoming(
        status=row["status"],
        course=travel.current_course(conn, learner_id),
        next_lesson_at=travel.next_lesson_at(conn, learner_id),
        messages=pending,
        reviews_due=travel.reviews_due(conn, learner_id, now + DAY),
        quiet_now=quiet.is_quiet(now, tz),
    )


def _first_words(body: str, limit: int = 60) -> str:
    line = " ".join(body.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@bp.get("/simulator")
@sec.admin_view("editor")
async def panel(request: Request):
    services = request.app.ctx.services
    phone = _phone(request.args.get("phone"))
    learner = await services.db.run(learners.find_by_key, f"sim:{phone}")
    learner_id = learner["id"] if learner is not None else None
    rows = await services.db.run(transcript_page, learner_id, limit=SHOWN) if learner_id else []
    # What the phone has: the learner's messages and those sent to them. One still to send (held for quiet hours)
    # arrives through the live feed when it goes, which starts after the newest row read here.
    messages = [m for m in rows if m["direction"] == "in" or m["status"] in SENT_STATUSES]
    coach = Coach.of(services)
    coming = await services.db.run(upcoming, learner_id, services.clock.now(), coach.quiet) if learner_id else None
    return render(
        request,
        "simulator.html",
        phone=phone,
        messages=messages,
        learner_id=learner_id,
        learner=learner,
        coming=coming,
        outcome=OUTCOMES.get(request.args.get("moved") or ""),
        after=rows[-1]["id"] if rows else 0,
        enabled=services.settings.channel_kind == "simulator",
        on_phone=True,
    )


@bp.post("/simulator/travel")
@sec.admin_view("editor")
async def time_travel(request: Request):
    """Move the test learner on: to their next lesson time, by one day, or to the last lesson of their course."""
    services = request.app.ctx.services
    _enabled(services)
    phone = _phone(field(request, "phone"))
    to = field(request, "to")
    if to not in ("lesson", "day", "end"):
        return back(_page(phone))
    learner = await services.db.run(learners.find_by_key, f"sim:{phone}")
    if learner is None or learner["status"] == "deleted":
        return back(_page(phone, "nobody"))
    coach = Coach.of(services)
    outcome, rest = await services.db.run(travel_now, coach, learner["id"], to, services.clock.now())
    await _send(services)
    if rest > timedelta(0):
        # The rest of the day, once the day's lesson is on the phone: no lesson falls in it (the next is a day on).
        await services.db.run(pass_time, coach, learner["id"], rest, services.clock.now())
        await _send(services)
    return back(_page(phone, outcome))


async def _send(services) -> None:
    while await deliver_due(services):  # no sender in a bare `coachbox serve`: send what is due now, as the API does
        pass


def travel_now(conn, coach: Coach, learner_id: int, to: str, now: datetime) -> tuple[str, timedelta]:
    """One time-travel step for one test learner, on the writer thread: the OUTCOMES code, and how much of a day is
    left to pass once what this step sent is on the phone (pass_time).

    The lesson comes from the real daily fan-out at the real `now` (schedule.daily.run_daily_lessons): on a
    simulator box every learner is a test learner, and what it finds due for anyone else is due anyway (the
    worker would send it within the minute); its claims make a run beside the worker's harmless."""
    none = timedelta(0)
    row = learners.learner(conn, learner_id)
    if row is None:
        return "nobody", none
    tz = row["timezone"]
    if coach.quiet.is_quiet(now, tz):
        # At the learner's night a due lesson is skipped, never sent: moving time would lose it, not show it.
        return "quiet", none
    if to == "end":
        course = travel.current_course(conn, learner_id)
        if course is None or course.status != "active":
            return "nothing", none
        if course.next_title is None:
            return "finished", none
        with transaction(conn):
            travel.skip_to_last_lesson(conn, learner_id, course.course_id, now, timing.local_day(now, tz).isoformat())
            sessions.forget(conn, learner_id)  # rebuilt from the database at the next turn
    when = _next_lesson(conn, coach, learner_id, now)
    if when is None:
        return "nothing", none
    by = max(when - now, none)
    if to == "day" and by > DAY:  # no lesson in the coming day: one day goes by, nothing more
        return "day", pass_time(conn, coach, learner_id, DAY, now)
    pass_time(conn, coach, learner_id, by, now)
    return to, (DAY - by if to == "day" else none)


def pass_time(conn, coach: Coach, learner_id: int, by: timedelta, now: datetime) -> timedelta:
    """`by` goes by for the learner (their history moves that far into the past), then the scheduler runs."""
    row = learners.learner(conn, learner_id)
    if row is not None and by > timedelta(0):
        _shift(conn, learner_id, by, now, row["timezone"])
    daily.run_daily_lessons(conn, coach, now)
    return timedelta(0)


def _next_lesson(conn, coach: Coach, learner_id: int, now: datetime) -> datetime | None:
    """The learner's next lesson instant; worked out first by the scheduler when nobody has yet (just enrolled,
    resumed, moved to another lesson time)."""
    when = travel.next_lesson_at(conn, learner_id)
    if when is None:
        daily.run_daily_lessons(conn, coach, now)
        when = travel.next_lesson_at(conn, learner_id)
    return when


def _shift(conn, learner_id: int, by: timedelta, now: datetime, tz: str) -> None:
    # The local dates the step crosses: a lesson at 07:00 yesterday, moved back by 22 hours, is on the day before.
    days = (timing.local_day(now + by, tz) - timing.local_day(now, tz)).days
    with transaction(conn):
        travel.shift_learner(conn, learner_id, by, days, now)


@bp.post("/simulator/reset")
@sec.admin_view("editor")
async def reset(request: Request):
    """Erase the test learner (as a learner's own DELETE does: for that learner only), after a confirmation."""
    services = request.app.ctx.services
    _enabled(services)
    phone = _phone(field(request, "phone"))
    learner = await services.db.run(learners.find_by_key, f"sim:{phone}")
    if learner is None or learner["status"] == "deleted":
        return back(_page(phone, "nobody"))
    if not confirmed(request):
        return confirm_page(
            request,
            heading="Start again with a new test learner?",
            consequences=[
                f"The test learner {phone} is erased: their messages, progress, answers and certificates.",
                "Nobody else is touched. Write hi on the simulator to start again as a new learner.",
            ],
            action="/admin/simulator/reset",
            fields={"phone": phone},
            button="Erase the test learner",
            cancel=_page(phone),
            keep="Keep the test learner",
            danger=True,
        )
    learner_id = learner["id"]

    def erase(conn, now):
        with transaction(conn):
            files = erase_learner(conn, services.cache, learner_id, now, data_dir=services.settings.data_dir)
            admins.audit(conn, request.ctx.admin["admin_id"], "simulator.reset", f"learner:{learner_id}", now)
        return files

    remove_files(services.settings, await services.db.run(erase, services.clock.now()))
    return back(_page(phone, "reset"))
