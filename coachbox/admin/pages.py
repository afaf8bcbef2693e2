"""The admin Jinja2 environment (autoescape everywhere) and the render helper with security headers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import jinja2
from sanic import Request, Sanic
from sanic.exceptions import PayloadTooLarge
from sanic.request import RequestParameters
from sanic.response import HTTPResponse, html, redirect

from coachbox.admin.times import Times
from coachbox.admin.whatsapp_format import whatsapp_html

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Fixed notices by code: a redirect carries ?done=<code>, never free text someone could craft into a link.
NOTICES = {
    "saved": "Saved.",
    "saved_heavy": (
        "Saved, but the file is over 300 KB: learners on prepaid data pay for it with every lesson. "
        "A picture 1280 px wide saved as JPEG at quality 75 is usually well under that."
    ),
    "sent": "Message queued for sending.",
    "scheduled_message": "Message scheduled: it goes when the learner's quiet hours end.",
    "paused": "Learner paused: no proactive messages until resumed.",
    "resumed": "Learner resumed.",
    "deleted": "Deleted.",
    "published": "Published.",
    "unpublished": "Unpublished: learners no longer receive it.",
    "password": "Password changed. Other sessions were signed out.",
    "retried": "Queued again for sending.",
    "backup": "Backup written.",
    "revoked": "Token revoked.",
    "enrolled": "Learners enrolled.",
    "moved": "Learner moved to the other course.",
    "signedout": "You are signed out.",
    "broadcast": "Broadcast scheduled.",
    "revoked_certificate": "Certificate revoked: its verify page now says so.",
    "cancelled": "Broadcast cancelled: messages not yet sent will not go out.",
    "flagged": "AI answer flagged as wrong, with your note.",
    "unflagged": "Flag removed.",
    "class_saved": "Class saved.",
    "class_deleted": "Class deleted.",
    "class_added": "Learner added to the class.",
    "class_removed": "Learner taken out of the class.",
    "nudged": "Nudge queued: it goes now (inside the approved template when their 24-hour window is closed).",
    "nudged_already": "Already nudged today: one nudge per learner a day (the button was pressed twice).",
    "inbox_replied": "Reply queued: it goes to the learner now.",
    "inbox_replied_template": "Reply queued inside the approved template (the learner's 24-hour window is closed).",
    "inbox_replied_waits": "Reply kept: it goes out when the learner next writes (window closed, no template).",
    "inbox_duplicate": "Already sent: that reply went once (the button was pressed twice).",
    "inbox_noted": "Note added: teachers see it, the learner does not.",
    "inbox_assigned": "Assigned.",
    "inbox_closed": "Conversation closed: the learner is told the bot is back.",
    "inbox_reopened": "Conversation reopened.",
    "inbox_wrong": "Tutor answer marked wrong.",
    "inbox_lessons_paused": "Scheduled lessons paused for this learner until the conversation closes.",
    "inbox_lessons_resumed": "Scheduled lessons go to this learner again.",
    "inbox_bot_on": "The bot answers this learner's messages again (the conversation stays open).",
    "inbox_bot_off": "The bot keeps out: the learner's messages come to this conversation.",
}

# No inline script or style anywhere: the CSP forbids both, so injected markup cannot run.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def build_environment(times: Times) -> jinja2.Environment:
    """One environment per app: its time filters show the org's time zone in the org's language (`times`)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension: learner text is hostile
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    # Times: {{ value|when }} "7 Dec 2026, 09:30", |when_date, |when_time, |ago "3 hours ago",
    # {{ value|learner_time(learner.timezone) }} "07:00" (say whose: "07:00 for Amina"); {{ times.zone_label }}.
    env.filters["when"] = times.when
    env.filters["when_date"] = times.when_date
    env.filters["when_time"] = times.when_time
    env.filters["ago"] = times.ago
    env.filters["learner_time"] = times.learner_time
    env.filters["local_input"] = times.input_value
    env.globals["times"] = times
    env.filters["fromjson"] = _fromjson
    env.filters["whatsapp"] = whatsapp_html  # a message body as WhatsApp shows it, escaped first
    env.filters["thousands"] = lambda n: f"{int(n or 0):,}"
    return env


def times_of(request: Request) -> Times:
    """The app's time formatter (org time zone and language) for a view that words a time itself."""
    return cast(Times, request.app.ctx.admin_env.globals["times"])


def _fromjson(value: str | None) -> Any:
    try:
        return json.loads(value or "null")
    except ValueError:
        return None


def security_headers(response: HTTPResponse) -> HTTPResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTTPResponse:
    app: Sanic = request.app
    admin = getattr(request.ctx, "admin", None)
    done = request.args.get("done")
    body = app.ctx.admin_env.get_template(template).render(
        admin=admin,
        csrf_token=admin["csrf_token"] if admin else context.pop("csrf_token", ""),
        org_name=app.ctx.settings.org.name,
        path=request.path,
        notice=NOTICES.get(done or ""),
        inbox_open=getattr(request.ctx, "inbox_open", None),  # the menu's count (admin.inbox sets it per request)
        inbox_figures=getattr(request.ctx, "inbox_figures", None),  # the dashboard's inbox block (admin.inbox)
        **context,
    )
    return security_headers(html(body, status=status))


def form(request: Request) -> RequestParameters:
    """The posted form fields. Sanic parses them on first access and always yields a mapping (empty when the body is
    not a form); its annotation only says `| None` because the attribute starts out unset."""
    parsed = request.form
    return parsed if parsed is not None else RequestParameters()


def files(request: Request) -> RequestParameters:
    """The uploaded files, parsed with the form (empty, never None, once the form has been read)."""
    parsed = request.files
    return parsed if parsed is not None else RequestParameters()


def field(request: Request, name: str, default: str = "") -> str:
    """One posted form field as text, `default` when it is absent (`form(request).get(name, default)`, typed)."""
    value = form(request).get(name, default)
    return value if isinstance(value, str) else default


def megabytes(size: float) -> str:
    """1_500_000 → '1.5 MB' (decimal megabytes, as WhatsApp and Twilio state their limits)."""
    return f"{size / 1_000_000:.1f}".removesuffix(".0") + " MB"


async def receive_body(request: Request, limit: int) -> None:
    """Read the body of a streaming route (declared with stream=True, so Sanic's app-wide REQUEST_MAX_SIZE does
    not apply) into request.body, up to `limit` bytes; PayloadTooLarge past it. A body up to twice the limit is
    read to its end first (and thrown away), so the browser, still sending, gets the 413 page and not a reset
    connection; a larger one is refused at once."""
    stream = request.stream
    if request.body or stream is None or not stream.request_body:
        return  # read already (a route without stream=True), or no body at all
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLarge(f"The upload is too large: this form takes at most {megabytes(limit)}.")
    if declared.isdigit() and int(declared) > 2 * limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    # Sanic's Stream type does not declare it, but both its HTTP/1 and ASGI streams iterate over the body's chunks.
    async for chunk in cast(AsyncIterable[bytes], stream):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > 2 * limit:
            break
    if size > limit:
        raise too_large
    request.body = b"".join(chunks)


# Paths whose callers are programs (JSON errors); every other page a browser asks for gets its error in words.
MACHINE_PATHS = ("/api/", "/webhooks/", "/healthz", "/metrics", "/admin/events/")
HEADINGS = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "That cannot be done now",
    413: "Too large",
    429: "Too many tries",
}


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not a program calling the API, a webhook or a live-update stream): anything
    under /admin that is not a machine path, or any path asked for with Accept: text/html."""
    if request.path.startswith(MACHINE_PATHS):
        return False
    return request.path.startswith("/admin") or "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> HTTPResponse:
    """An error a person reads: a heading, what happened, and the way back (never raw JSON to a browser)."""
    referrer = urlsplit(request.headers.get("referer", "")).path
    return render(
        request,
        "error.html",
        status=status,
        heading=HEADINGS.get(status, "Something went wrong" if status >= 500 else "That did not work"),
        errors=[message],
        back_url=referrer if referrer.startswith("/admin") and referrer != request.path else "/admin/",
    )


def too_large_page(request: Request, exception: Exception) -> HTTPResponse:
    """A 413 on an admin page, in words on a page (not JSON): what was too large, and the way back."""
    referrer = request.headers.get("referer", "")
    path = urlsplit(referrer).path if referrer else ""
    return render(
        request,
        "error.html",
        status=413,
        heading="Too large",
        errors=[str(exception) or "The upload is too large."],
        back_url=path if path.startswith("/admin") else "/admin/",
    )


def confirmed(request: Request) -> bool:
    """Did the admin confirm on the page confirm_page() showed? (A POST without it only shows that page.)"""
    return field(request, "confirm") == "yes"


def confirm_page(
    request: Request,
    *,
    heading: str,
    consequences: list[str],
    action: str,
    button: str,
    cancel: str,
    fields: dict[str, str] | None = None,
    danger: bool = False,
    keep: str = "Cancel",
) -> HTTPResponse:
    """The second step of an action that is hard to undo, without JavaScript: what will happen, in sentences, and
    a form posting the same fields to the same address with confirm=yes (or the `keep` link, back to `cancel`:
    "Keep the broadcast" reads better than "Cancel" beside "Cancel broadcast")."""
    return render(
        request,
        "confirm.html",
        heading=heading,
        consequences=consequences,
        action=action,
        fields=fields or {},
        button=button,
        cancel=cancel,
        danger=danger,
        keep=keep,
    )


def back(url: str, done: str | None = None) -> HTTPResponse:
    """Redirect after a POST (303 so a reload does not resubmit), with ?done=<code> for the notice. The query goes
    before any #fragment: after it, it would be part of the fragment, never sent, and no notice would show."""
    if done:
        path, hash_mark, fragment = url.partition("#")
        url = path + ("&" if "?" in path else "?") + f"done={done}" + hash_mark + fragment
    return redirect(url, status=303)
