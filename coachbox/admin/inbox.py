"""The teacher's inbox: learners waiting for a person (handovers), reply beside the transcript, notes, assign, close."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import BadRequest, NotFound

from coachbox.admin import live, menu_count
from coachbox.admin import security as sec
from coachbox.admin.learners import BODY_LIMIT, local_time, window_state
from coachbox.admin.pages import back, field, render
from coachbox.admin.scope import scope_for
from coachbox.channels import states
from coachbox.core import events
from coachbox.core.services import Services
from coachbox.store import admins, transaction
from coachbox.store import handover as handovers
from coachbox.store import inbox as q
from coachbox.store import tutor as tutor_store
from coachbox.store.messages import OutboxDraft, enqueue_outbound, transcript_page
from coachbox.turns.handover import close_and_notify
from coachbox.turns.runner import resources

log = logging.getLogger("coachbox.admin.inbox")
bp = Blueprint("admin_inbox", url_prefix="/admin")

# "inbox": published after an inbox change; the inbox stream also wakes on "dashboard" (every inbound turn)
TOPIC = menu_count.TOPIC
TEMPLATE_KEY = "admin"  # outside the 24-hour window a reply goes inside [twilio.templates] admin ({{1}}: the text)
NONCE = re.compile(r"^[0-9a-f]{32}$")
NOTE_LIMIT = 2000

REASONS = {
    "asked": "asked for a teacher",
    "tutor_no_answer": "the tutor had no answer",
    "tutor_flagged": "a tutor answer was flagged",
    "tutor_guardrail": "the tutor would not answer",
    "payment": "a payment problem",
    "safeguarding": "safeguarding concern",
}
EVENT_WORDS = {
    "opened": "opened",
    "learner_message": "learner wrote",
    "teacher_reply": "reply sent",
    "note": "internal note",
    "assigned": "assigned",
    "closed": "closed",
    "reopened": "reopened",
}


def waited(since: str | None, now: datetime) -> str:
    """How long since `since`, in words a teacher scans: "just now", "12 min", "3 h 5 min", "2 days 4 h"."""
    if not since:
        return ""
    minutes = max(0, int((now - datetime.fromisoformat(since)).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")


def _scope(request: Request) -> tuple[str, list]:
    return scope_for(request.ctx.admin).sql("learners.id")


def _learnerish(row) -> dict:
    """The inbox row in the shape learners.window_state/local_time read."""
    return {
        "name": row["learner_name"],
        "profile_name": None,
        "timezone": row["timezone"],
        "last_inbound_at": row["last_inbound_at"],
        "channel_key": row["channel_key"],
    }


def _line(row, now: datetime, settings) -> dict:
    """One inbox row as the list shows it: who, class, language, their time, the window, why, how long."""
    learner = _learnerish(row)
    window = window_state(learner, now, settings)
    local = local_time(learner, now, settings)
    if not window["whatsapp"]:
        window_words = "free text (not WhatsApp)"
    elif window["open"]:
        window_words = f"free text ({window['hours_left']:.0f} h left)"
    else:
        window_words = "template only" if window["template"] else "closed: waits for the learner"
    return {
        "row": row,
        "reason": REASONS.get(row["reason"], row["reason"]),
        "window": window,
        "window_words": window_words,
        "local": local,
        "waiting": waited(row["waiting_since"], now) if row["waiting_since"] else "",
        "opened": waited(row["opened_at"], now),
    }


async def _item(request: Request, handover_id: int):
    services = request.app.ctx.services
    sql, params = _scope(request)
    row = await services.db.run(q.item, handover_id, sql, params)
    if row is None:
        raise NotFound("No such conversation in your inbox.")
    return row


# -- the list ---------------------------------------------------------------------------------------------------------
@bp.get("/inbox")
@sec.admin_view("viewer")
async def inbox_list(request: Request):
    services = request.app.ctx.services
    show = request.args.get("show") if request.args.get("show") in q.FILTERS else "all"
    status = "closed" if request.args.get("status") == "closed" else "open"
    sql, params = _scope(request)
    found = await services.db.run(
        q.rows, status=status, scope_sql=sql, scope_params=params, show=show, admin_id=request.ctx.admin["admin_id"]
    )
    now = services.clock.now()
    return render(
        request,
        "inbox.html",
        lines=[_line(r, now, services.settings) for r in found],
        show=show,
        tab=status,
        filters=(("all", "All"), ("mine", "Mine"), ("unassigned", "Unassigned")),
        live_url=f"/admin/events/inbox?status={status}&show={show}",
    )


# -- one conversation -------------------------------------------------------------------------------------------------
@bp.get("/inbox/<handover_id:int>")
@sec.admin_view("viewer")
async def inbox_item(request: Request, handover_id: int):
    return await _item_page(request, handover_id)


async def _item_page(request: Request, handover_id: int, *, typed: dict | None = None, status: int = 200):
    """One conversation; `typed` ({"form": "reply" or "note", "body", "error"}) is a refused form's text, back in
    its box with the problem beside it."""
    services = request.app.ctx.services
    row = await _item(request, handover_id)
    learner_id = row["learner_id"]

    def load(conn):
        return (
            handovers.handover_events(conn, handover_id),
            transcript_page(conn, learner_id),
            handovers.list_saved_replies(conn, row["language"]),
            q.colleagues(conn),
            tutor_store.get_exchange(conn, row["tutor_exchange_id"]) if row["tutor_exchange_id"] else None,
            tutor_store.exchanges_for_learner(conn, learner_id, limit=200),
        )

    history, messages, saved, colleagues, exchange, exchanges = await services.db.run(load)
    now = services.clock.now()
    tz = row["timezone"] or services.settings.org.default_timezone
    names = {c["id"]: c["email"] for c in colleagues}
    missing = [e.admin_id for e in history if e.admin_id and e.admin_id not in names]
    missing += [int(e.body) for e in history if e.kind == "assigned" and e.body.isdigit() and int(e.body) not in names]
    if missing:
        names.update(await services.db.run(q.admin_emails, sorted(set(missing))))
    chosen = request.args.get("saved", "")
    prefill = next((s.body for s in saved if str(s.id) == chosen), "")
    typed = typed or {"form": "", "body": "", "error": ""}
    if typed["form"] == "reply":
        prefill = typed["body"]
    return render(
        request,
        "inbox_item.html",
        status=status,
        typed=typed,
        item=_line(row, now, services.settings),
        row=row,
        history=history,
        event_words=EVENT_WORDS,
        names=names,
        messages=messages,
        state=lambda m: states.of(m, now, tz),
        tutor={ex.message_id: ex for ex in exchanges if ex.message_id is not None},
        exchange=exchange,
        saved=saved,
        chosen=chosen,
        prefill=prefill,
        colleagues=colleagues,
        nonce=uuid.uuid4().hex,  # one per form shown: a second press of Send carries the same one and sends nothing
        limit=BODY_LIMIT,
        retention_days=services.settings.schedule.message_retention_days,
        learner={"id": learner_id},
        live=True,
    )


def reply_draft(body: str, handover_id: int, nonce: str) -> OutboxDraft:
    """A teacher's inbox reply: an answer to the learner (kind `reply`, never held by quiet hours, not cancelled by
    STOP's proactive rule), free text inside the 24-hour window and the admin template outside it; keyed by the
    form's nonce, so the same form posted twice is one message."""
    return OutboxDraft(
        body=body,
        kind="reply",
        idempotency_key=f"inbox:{handover_id}:{nonce}",
        template_key=TEMPLATE_KEY,
        content_variables={"1": body},
        proactive=False,
    )


async def send_reply(services: Services, row, body: str, nonce: str, admin_id: int | None) -> int | None:
    """Queue the reply and record it on the handover (ending the wait; the first also sets first_reply_at), in one
    transaction. None when this form's reply was queued already (a double press)."""
    now = services.clock.now()
    draft = reply_draft(body, row["id"], nonce)

    def write(conn):
        with transaction(conn):
            message_id = enqueue_outbound(
                conn,
                learner_id=row["learner_id"],
                channel=row["channel"],
                address=row["channel_key"],
                draft=draft,
                now=now,
            )
            if message_id is None:
                return None
            handovers.add_handover_event(
                conn, row["id"], "teacher_reply", now, admin_id=admin_id, body=body, message_id=message_id
            )
            admins.audit(
                conn, admin_id, "inbox.reply", f"handover:{row['id']}", now, message_id=message_id, chars=len(body)
            )
            return message_id

    message_id = await services.db.run(write)
    if message_id is not None:
        events.publish(services, f"learner:{row['learner_id']}", TOPIC, "outbox")
        if services.sender is not None:
            services.sender.kick()  # send now rather than at the next poll
    return message_id


@bp.post("/inbox/<handover_id:int>/reply")
@sec.admin_view("editor")
async def reply(request: Request, handover_id: int):
    services = request.app.ctx.services
    row = await _item(request, handover_id)
    body = field(request, "body").strip()
    nonce = field(request, "nonce")
    if not body or len(body) > BODY_LIMIT:
        problem = f"Write a reply of 1 to {BODY_LIMIT:,} characters (this one has {len(body):,})."
        typed = {"form": "reply", "body": body, "error": problem}
        return await _item_page(request, handover_id, typed=typed, status=400)
    if not NONCE.match(nonce):
        raise BadRequest("The form is out of date: reload the conversation and send again.")
    if row["status"] != "open":
        raise BadRequest("This conversation is closed: reopen it first (the learner is back with the bot).")
    if row["opted_out"]:
        raise BadRequest("This learner sent STOP: WhatsApp rules forbid messaging them until they send START.")
    if row["learner_status"] == "deleted":
        raise BadRequest("This learner erased their data (DELETE): there is nobody to send the reply to.")
    message_id = await send_reply(services, row, body, nonce, request.ctx.admin["admin_id"])
    if message_id is None:
        return back(f"/admin/inbox/{handover_id}", "inbox_duplicate")
    window = window_state(_learnerish(row), services.clock.now(), services.settings)
    done = (
        "inbox_replied"
        if window["open"]
        else ("inbox_replied_template" if window["template"] else "inbox_replied_waits")
    )
    return back(f"/admin/inbox/{handover_id}", done)


@bp.post("/inbox/<handover_id:int>/note")
@sec.admin_view("editor")
async def note(request: Request, handover_id: int):
    """An internal note: teachers see it on the conversation, nothing sends it to the learner."""
    services = request.app.ctx.services
    await _item(request, handover_id)
    body = field(request, "body").strip()
    if not body or len(body) > NOTE_LIMIT:
        problem = f"Write a note of 1 to {NOTE_LIMIT:,} characters (this one has {len(body):,})."
        typed = {"form": "note", "body": body, "error": problem}
        return await _item_page(request, handover_id, typed=typed, status=400)
    admin_id = request.ctx.admin["admin_id"]

    def write(conn, now):
        with transaction(conn):
            handovers.add_handover_event(conn, handover_id, "note", now, admin_id=admin_id, body=body)

    await services.db.run(write, services.clock.now())
    events.publish(services, TOPIC)
    return back(f"/admin/inbox/{handover_id}#history", "inbox_noted")


@bp.post("/inbox/<handover_id:int>/assign")
@sec.admin_view("editor")
async def assign(request: Request, handover_id: int):
    """Assign to me, to a colleague (an editor or owner), or to nobody ("none")."""
    services = request.app.ctx.services
    await _item(request, handover_id)
    me = request.ctx.admin["admin_id"]
    choice = field(request, "to")
    if choice == "me":
        to: int | None = me
    elif choice == "none":
        to = None
    elif choice.isdigit():
        to = int(choice)
        if to not in {c["id"] for c in await services.db.run(q.colleagues)}:
            raise BadRequest("Choose an editor or owner who can answer (field 'to').")
    else:
        raise BadRequest("Choose who answers: yourself, a colleague, or nobody.")

    def write(conn, now):
        with transaction(conn):
            handovers.assign_handover(conn, handover_id, to, now, me)
            admins.audit(conn, me, "inbox.assign", f"handover:{handover_id}", now, to=to)

    await services.db.run(write, services.clock.now())
    events.publish(services, TOPIC)
    return back(f"/admin/inbox/{handover_id}", "inbox_assigned")


@bp.post("/inbox/<handover_id:int>/close")
@sec.admin_view("editor")
async def close(request: Request, handover_id: int):
    """Close: the learner is told the bot is back (17a's close_and_notify, one transaction with the close)."""
    services = request.app.ctx.services
    row = await _item(request, handover_id)
    if row["status"] != "open":
        return back(f"/admin/inbox/{handover_id}")
    texts, me = resources(services).texts, request.ctx.admin["admin_id"]

    def write(conn, now):
        with transaction(conn):
            message_id = close_and_notify(conn, texts, handover_id, now, me)
            admins.audit(conn, me, "inbox.close", f"handover:{handover_id}", now, message_id=message_id)
            return message_id

    if await services.db.run(write, services.clock.now()) is not None and services.sender is not None:
        services.sender.kick()  # "the bot is back" goes now
    events.publish(services, TOPIC, f"learner:{row['learner_id']}", "outbox")
    return back("/admin/inbox", "inbox_closed")


AUDIT_PAUSE = {
    ("lessons", True): "inbox.pause_lessons",
    ("lessons", False): "inbox.resume_lessons",
    ("bot", True): "inbox.bot_out",
    ("bot", False): "inbox.bot_back",
}


@bp.post("/inbox/<handover_id:int>/pause")
@sec.admin_view("editor")
async def pause(request: Request, handover_id: int):
    """While the conversation is open: pause or resume the learner's scheduled lessons (what=lessons), or let the
    bot answer their free text again or keep it out (what=bot). Closing ends both: the bot is back, lessons go."""
    services = request.app.ctx.services
    row = await _item(request, handover_id)
    what, on = field(request, "what"), field(request, "on")
    if what not in ("lessons", "bot") or on not in ("0", "1"):
        raise BadRequest("Choose what to pause (field 'what': lessons or bot) and on=1 or on=0.")
    if row["status"] != "open":
        raise BadRequest("This conversation is closed: the bot answers and lessons go as usual.")
    paused, me = on == "1", request.ctx.admin["admin_id"]

    def write(conn, now):
        with transaction(conn):
            handovers.set_paused(conn, handover_id, now, **{what: paused})
            admins.audit(conn, me, AUDIT_PAUSE[(what, paused)], f"handover:{handover_id}", now)

    await services.db.run(write, services.clock.now())
    events.publish(services, TOPIC)
    done = {("lessons", True): "inbox_lessons_paused", ("lessons", False): "inbox_lessons_resumed"}
    done |= {("bot", True): "inbox_bot_off", ("bot", False): "inbox_bot_on"}
    return back(f"/admin/inbox/{handover_id}", done[(what, paused)])


@bp.post("/inbox/<handover_id:int>/reopen")
@sec.admin_view("editor")
async def reopen(request: Request, handover_id: int):
    services = request.app.ctx.services
    await _item(request, handover_id)
    me = request.ctx.admin["admin_id"]

    def write(conn, now):
        with transaction(conn):
            return handovers.reopen_handover(conn, handover_id, now, me)

    if not await services.db.run(write, services.clock.now()):
        raise BadRequest("It cannot be reopened: the learner has another open conversation (see the inbox).")
    events.publish(services, TOPIC)
    return back(f"/admin/inbox/{handover_id}", "inbox_reopened")


@bp.post("/inbox/<handover_id:int>/wrong")
@sec.admin_view("editor")
async def mark_wrong(request: Request, handover_id: int):
    """Tutor review: mark the conversation's tutor answer wrong (the flag the learner page sets, audited)."""
    services = request.app.ctx.services
    row = await _item(request, handover_id)
    if not row["tutor_exchange_id"]:
        raise NotFound("This conversation has no tutor answer.")
    note_text = field(request, "note").strip()[:500]
    admin_id = request.ctx.admin["admin_id"]

    def write(conn, now):
        with transaction(conn):
            return tutor_store.flag_answer(conn, row["tutor_exchange_id"], admin_id=admin_id, note=note_text, now=now)

    if not await services.db.run(write, services.clock.now()):
        raise NotFound("The tutor answer is gone.")
    return back(f"/admin/inbox/{handover_id}", "inbox_wrong")


# -- saved replies ----------------------------------------------------------------------------------------------------
@bp.get("/inbox/replies")
@sec.admin_view("viewer")
async def saved_replies(request: Request):
    return await _replies_page(request, request.args.get("edit", ""))


async def _replies_page(request: Request, edit: str, *, typed: dict | None = None, status: int = 200):
    """The saved replies; `typed` ({"title", "language", "body", "errors": {field: problem}}) is a refused form."""
    services = request.app.ctx.services
    found = await services.db.run(handovers.list_saved_replies)
    editing = next((s for s in found if str(s.id) == edit), None)
    texts = resources(services).texts
    languages = [(code, texts.language_name(code)) for code in texts.languages]
    return render(
        request, "inbox_replies.html", status=status, saved=found, editing=editing, languages=languages, typed=typed
    )


@bp.post("/inbox/replies")
@sec.admin_view("editor")
async def save_saved_reply(request: Request):
    services = request.app.ctx.services
    title = field(request, "title").strip()[:80]
    language = field(request, "language").strip()[:10]
    body = field(request, "body").strip()
    reply_id = field(request, "id")
    problems = {}
    if not title:
        problems["title"] = "Give it a title (up to 80 characters): teachers choose replies by it."
    if not re.fullmatch(r"[a-z]{2,3}([_-][A-Za-z]{2,4})?", language):
        problems["language"] = "Choose the language learners read it in."
    if not body or len(body) > BODY_LIMIT:
        problems["body"] = f"Write a text of 1 to {BODY_LIMIT:,} characters (this one has {len(body):,})."
    if problems:
        typed = {"title": title, "language": language, "body": body, "errors": problems}
        return await _replies_page(request, reply_id, typed=typed, status=400)

    def write(conn, now):
        with transaction(conn):
            return handovers.save_reply(conn, int(reply_id) if reply_id.isdigit() else None, title, language, body, now)

    await services.db.run(write, services.clock.now())
    return back("/admin/inbox/replies", "saved")


@bp.post("/inbox/replies/<reply_id:int>/delete")
@sec.admin_view("editor")
async def delete_saved_reply(request: Request, reply_id: int):
    services = request.app.ctx.services

    def write(conn):
        with transaction(conn):
            handovers.delete_saved_reply(conn, reply_id)

    await services.db.run(write)
    return back("/admin/inbox/replies", "deleted")


# -- live -------------------------------------------------------------------------------------------------------------
@bp.get("/events/inbox")
@sec.admin_view("viewer")
async def inbox_events(request: Request):
    """The inbox page's stream: the open count and a stamp that moves when any conversation in scope changes (the
    page then re-reads its list as HTML). Wakes on "inbox" and on every inbound turn ("dashboard")."""
    services = request.app.ctx.services
    sql, params = _scope(request)
    last: dict = {}

    async def step() -> list[str]:
        count, stamp = await services.db.run(q.version, sql, params)
        state = {"open": count, "version": stamp}
        if state == last:
            return []
        last.update(state)
        return [live._event("inbox", state)]

    await live._serve(request, (TOPIC, "dashboard"), step)


@bp.get("/events/menu")
@sec.admin_view("viewer")
async def menu_events(request: Request):
    """The menu's Inbox count for a page without a stream of its own (admin.js opens it; a page with a stream gets
    the count on that one). No query of its own: admin.menu_count reads once per scope for every tab."""

    async def step() -> list[str]:
        return []

    await live._serve(request, (), step)


# -- the menu's count and the dashboard's figures ---------------------------------------------------------------------
SKIP = ("/admin/static", "/admin/events", "/admin/login", "/admin/setup", "/admin/reset")


async def _menu_count(request: Request) -> None:
    """Before an admin page (GET): the open conversations the signed-in admin may see, for the menu's badge
    (request.ctx.inbox_open, read by pages.render), and on the dashboard the inbox figures (request.ctx.inbox)."""
    path = request.path
    if request.method != "GET" or not path.startswith("/admin") or path.startswith(SKIP):
        return
    try:
        admin = await sec.load_admin(request)
        if admin is None:
            return
        services = request.app.ctx.services
        request.ctx.inbox_open = await menu_count.open_count(request, admin)  # shared with the live streams
        if path == "/admin/":
            sql, params = scope_for(admin).sql("learners.id")
            request.ctx.inbox_figures = await services.db.run(q.figures, services.clock.now(), sql, params)
    except Exception:  # noqa: BLE001 - a badge must never break a page
        log.exception("could not count the inbox")


def setup(app: Sanic) -> None:
    """Register the menu count for every admin page (called from admin.views.setup)."""
    app.register_middleware(_menu_count, "request")
