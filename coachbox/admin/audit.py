"""The audit log page: every change as a sentence, in local time, filtered by person and by action, paginated."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sanic import Request
from sanic.response import HTTPResponse

from coachbox.admin.pages import render, times_of
from coachbox.store import admins

PER_PAGE = 50

# What each action code means, as the rest of a sentence after who did it. {target} is the thing it was done to
# (a link when it has a page); {name}-style fields come from the row's detail, and a [bracketed part] is left out
# when a field in it is missing (older rows stored less). Unknown codes are shown as they are.
SENTENCES: dict[str, str] = {
    "admin.add": "invited {target}[ as {role}]",
    "admin.role": "changed {target}'s role[ from {old}][ to {new}]",
    "admin.disable": "disabled {target}'s account (signed out, cannot sign in)",
    "admin.enable": "enabled {target}'s account again",
    "admin.first_owner": "became the first owner, with the first-run link",
    "admin.reset_link": "made a password link for {target}",
    "admin.classes": "changed which classes {target} sees[: {classes}]",
    "api_token.create": "created the API token[ “{name}”][ ({role})]",
    "api_token.revoke": "revoked {target}",
    "api_token.classes": "changed which classes {target} sees[: {classes}]",
    "backup.create": "made a backup ({target})",
    "backup.download": "downloaded the backup {target}",
    "broadcast.create": "scheduled {target}[ to {audience}][ for {scheduled_at}][ ({reach} learners)]",
    "broadcast.cancel": "cancelled {target}[: {unsent_cancelled} messages not sent yet were stopped]",
    "certificate.revoke": "revoked {target}[: {reason}]",
    "class.create": "created {target}",
    "class.rename": "renamed the class[ {old}] to {target}",
    "class.delete": "deleted {target}",
    "content.export": "exported the course files to {target}",
    "content.import": "imported the course files from {target}",
    "course.create": "created {target}[ (“{title}”)]",
    "course.update": "edited {target}",
    "course.publish": "published {target}",
    "course.unpublish": "unpublished {target}: learners no longer receive it",
    "inbox.assign": "handed {target}[ to {to}]",
    "inbox.close": "closed {target} and gave the learner back to the bot",
    "inbox.reply": "replied in {target}",
    "inbox.pause_lessons": "paused the scheduled lessons of the learner in {target}",
    "inbox.resume_lessons": "resumed the scheduled lessons of the learner in {target}",
    "inbox.bot_out": "kept the bot out of {target}",
    "inbox.bot_back": "let the bot answer the learner in {target}",
    "learner.class_add": "added {target} to[ the class {name}]",
    "learner.class_remove": "removed {target} from[ the class {name}]",
    "learner.cohort": "put {target} in[ the cohort “{cohort}”]",
    "learner.delete": "erased {target} for good",
    "learner.export": "downloaded everything stored about {target}",
    "learner.message": "sent {target} a message",
    "learner.move": "moved {target} to another course[ (course {course_id})]",
    "learner.pause": "paused lessons for {target}",
    "learner.resume": "resumed lessons for {target}",
    "learner.teacher_nudge": "nudged {target}[ ({why})]",
    "learners.enrol_csv": "enrolled learners from a CSV file[: {created} new][, {updated} updated][, {skipped} skipped]",
    "lesson.create": "added {target}[ (“{title}”)]",
    "lesson.update": "edited {target}[ (“{title}”)]",
    "lesson.media": "attached a file to {target}[ ({media})]",
    "lesson.move": "moved {target}[ {direction}]",
    "lesson.publish": "published {target}",
    "lesson.unpublish": "unpublished {target}",
    "outbox.retry": "queued failed messages again[ ({count})]",
    "password.change": "changed their password",
    "password.reset": "chose a new password with a reset link",
    "payment.manual_grant": "granted {target} access by hand[: {days} days][ of {plan}][ ({note})]",
    "payment.refund_marked": "marked {target} as refunded[: {note}]",
    "payment.review_resolved": "settled {target}[: {resolution}]",
    "question.create": "added {target}[ to lesson {lesson_id}]",
    "question.update": "edited {target}",
    "question.delete": "deleted {target}",
    "tutor.flag": "flagged {target} as wrong[: {note}]",
    "tutor.unflag": "removed the flag from {target}",
}

# The filter's areas: the part of a code before the dot, in words.
AREAS = {
    "admin": "People and roles",
    "api_token": "API tokens",
    "backup": "Backups",
    "broadcast": "Broadcasts",
    "certificate": "Certificates",
    "class": "Classes",
    "content": "Course files",
    "course": "Courses",
    "inbox": "Inbox",
    "learner": "Learners",
    "learners": "Enrolment",
    "lesson": "Lessons",
    "outbox": "Outbox",
    "password": "Passwords",
    "payment": "Payments",
    "question": "Quiz questions",
    "tutor": "AI tutor",
}

# A target "kind:value" in words, and the page it has (if any).
TARGETS = {
    "admin": ("{v}", None),
    "api_token": ("API token {v}", "/admin/tokens"),
    "broadcast": ("broadcast {v}", "/admin/broadcasts/{v}"),
    "certificate": ("certificate {v}", "/admin/certificates"),
    "class": ("the class {v}", None),
    "course": ("course {v}", "/admin/courses/{v}"),
    "handover": ("conversation {v}", "/admin/inbox/{v}"),
    "learner": ("learner {v}", "/admin/learners/{v}"),
    "lesson": ("lesson {v}", "/admin/lessons/{v}"),
    "payment": ("payment {v}", "/admin/payments"),
    "payment_review": ("payment review {v}", "/admin/payments"),
    "question": ("quiz question {v}", None),
    "tutor_exchange": ("an AI tutor answer ({v})", None),
}


@dataclass(frozen=True)
class Entry:
    """One audit row as the page shows it: when, who, and the sentence split around its link."""

    id: int
    at: str
    who: str
    before: str
    link_text: str
    link: str | None
    after: str
    details: str  # what the detail holds beyond the sentence ("" when nothing)
    action: str


OPTIONAL = re.compile(r"\[([^\]]*)\]")
FIELD = re.compile(r"\{(\w+)\}")


def _fill(sentence: str, fields: dict[str, str]) -> str:
    """The sentence with its fields; a [part] whose fields are not all there is dropped, an unknown one is '?'."""

    def optional(match: re.Match) -> str:
        part = match.group(1)
        return part if all(fields.get(name) for name in FIELD.findall(part)) else ""

    return FIELD.sub(lambda m: fields.get(m.group(1)) or "?", OPTIONAL.sub(optional, sentence))


def _words(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def describe(row: Any, when: Any = str) -> Entry:
    """An audit_log row (with the admin's email) as a readable entry; `when` formats stored times."""
    try:
        detail = json.loads(row["detail"] or "{}")
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {"detail": detail}
    kind, _, value = (row["target"] or "").partition(":")
    if value and kind in TARGETS:
        words, page = TARGETS[kind]
        link_text, link = words.format(v=value), page.format(v=value) if page else None
    else:
        link_text, link = row["target"] or "", None
    fields = {k: _words(v) for k, v in detail.items()}
    if "scheduled_at" in detail:
        fields["scheduled_at"] = when(detail["scheduled_at"])
    if isinstance(detail.get("audience"), str):
        fields["audience"] = audience_words(detail["audience"])
    sentence = SENTENCES.get(row["action"])
    if sentence is None:
        sentence = f"did “{row['action']}” to {{target}}" if row["target"] else f"did “{row['action']}”"
    used = set(FIELD.findall(sentence))
    before, marker, after = sentence.partition("{target}")
    before, after = _fill(before, fields), _fill(after, fields)
    if not marker:
        link_text, link = "", None
    rest = "; ".join(f"{k.replace('_', ' ')}: {_words(v)}" for k, v in detail.items() if k not in used and v != "")
    return Entry(
        id=row["id"],
        at=row["created_at"],
        who=row["email"] or ("the box" if row["admin_id"] is None else f"admin {row['admin_id']} (removed)"),
        before=before,
        link_text=link_text,
        link=link,
        after=after,
        details=rest,
        action=row["action"],
    )


def audience_words(audience: str) -> str:
    """A broadcast's audience code in words: all → everyone, course:3 → the learners of course 3."""
    kind, _, value = audience.partition(":")
    if kind == "course":
        return f"the learners of course {value}"
    if kind == "cohort":
        return f"the cohort “{value}”"
    return "everyone" if audience == "all" else audience


def action_label(code: str) -> str:
    """The filter's words for an action code: "Learners: paused lessons for …" → "Learners: paused lessons for"."""
    area = AREAS.get(code.split(".", 1)[0], code.split(".", 1)[0])
    sentence = SENTENCES.get(code, code)
    words = OPTIONAL.sub("", sentence).replace("{target}", "…").split("{", 1)[0].strip(" :(")
    return f"{area}: {words}"


async def audit_page(request: Request) -> HTTPResponse:
    """GET /admin/audit?who=<admin id|system>&action=<code|area.>&before=<id>: newest first, 50 a page."""
    who = request.args.get("who", "")
    action = request.args.get("action", "")[:60]
    before = request.args.get("before", "")
    person = int(who) if who.isdigit() else None
    system = who == "system"

    def load(conn):
        rows = admins.audit_page(
            conn,
            limit=PER_PAGE,
            before_id=int(before) if before.isdigit() else None,
            person=person,
            system=system,
            action=action,
        )
        return rows, admins.audit_choices(conn)

    rows, (people, actions) = await request.app.ctx.services.db.run(load)
    times = times_of(request)
    entries = [describe(r, times.when) for r in rows[:PER_PAGE]]
    areas = sorted({code.split(".", 1)[0] for code in actions})
    filters = {k: v for k, v in (("who", who), ("action", action)) if v}
    query = urlencode(filters)
    older = f"/admin/audit?{urlencode({**filters, 'before': entries[-1].id})}" if len(rows) > PER_PAGE else None
    return render(
        request,
        "audit.html",
        entries=entries,
        people=people,
        area_choices=[(f"{a}.", AREAS.get(a, a)) for a in areas],
        action_choices=[(code, action_label(code)) for code in actions],
        who=who,
        action=action,
        older=older,
        newest=f"/admin/audit?{query}" if before else None,
        filtered=bool(filters),
    )
