"""Admin sessions, CSRF tokens, roles and login throttling: the checks every admin view runs on the server."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from sanic import Request
from sanic.exceptions import Forbidden
from sanic.response import HTTPResponse, redirect

from coachbox.admin.pages import receive_body
from coachbox.channels.signed_urls import media_secret
from coachbox.core import constant_time
from coachbox.core.addresses import client_ip
from coachbox.store import admins, classes

SESSION_COOKIE = "cbx_session"
# Forms shown before sign-in (login, setup, reset) use a double-submit token tied to this cookie.
PRESESSION_COOKIE = "cbx_pre"
ROLES = ("viewer", "editor", "owner")
LOGIN_WINDOW_SECONDS = 15 * 60
MAX_FAILS_PER_ACCOUNT = 5
MAX_FAILS_PER_IP = 30


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def _secure(request: Request) -> bool:
    return request.app.ctx.settings.server.public_url.startswith("https://")


async def secret_key(request: Request) -> str:
    """The box's secret key (config, or generated once into the database), read once per process."""
    return await media_secret(request.app.ctx.services)


# -- sessions -------------------------------------------------------------------------------------


async def load_admin(request: Request) -> dict | None:
    """The signed-in admin for this request ({admin_id, email, role, csrf_token, classes}), cached on request.ctx."""
    if hasattr(request.ctx, "admin"):
        return request.ctx.admin
    request.ctx.admin = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and len(session_id) < 100:
        services = request.app.ctx.services
        row = await services.db.run(_session, session_id, services.clock.now())
        if row is not None:
            request.ctx.admin = row
            request.ctx.session_id = session_id
    return request.ctx.admin


def _session(conn, session_id: str, now) -> dict | None:
    """The session's admin with the classes they are limited to (admin.scope), in one trip to the database."""
    row = admins.load_session(conn, session_id, now)
    return None if row is None else {**dict(row), "classes": classes.for_admin(conn, row["admin_id"])}


def set_session_cookie(request: Request, response: HTTPResponse, session_id: str) -> None:
    response.add_cookie(
        SESSION_COOKIE,
        session_id,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
        max_age=admins.SESSION_DAYS * 86400,
    )


def clear_session_cookie(response: HTTPResponse) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


async def start_session(request: Request, response: HTTPResponse, admin_id: int) -> None:
    """Sign in: a brand-new session id (any old one is dropped), so a planted cookie is worthless."""
    services = request.app.ctx.services
    session_id, _ = await services.db.run(
        admins.create_session,
        admin_id,
        services.clock.now(),
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        replaces=request.cookies.get(SESSION_COOKIE),
    )
    set_session_cookie(request, response, session_id)


# -- CSRF -----------------------------------------------------------------------------------------


async def presession_token(request: Request, response_cookie: dict) -> str:
    """A CSRF token for a form shown before sign-in; sets the pre-session cookie when missing."""
    nonce = request.cookies.get(PRESESSION_COOKIE)
    if not nonce or len(nonce) > 100:
        nonce = secrets.token_urlsafe(24)
        response_cookie["value"] = nonce
    key = await secret_key(request)
    return hmac.new(key.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def set_presession_cookie(request: Request, response: HTTPResponse, cookie: dict) -> None:
    if cookie.get("value"):
        response.add_cookie(
            PRESESSION_COOKIE, cookie["value"], path="/admin", httponly=True, samesite="Strict", secure=_secure(request)
        )


def _submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    try:
        return (request.form.get("csrf_token") if request.form else "") or ""
    except Exception:  # noqa: BLE001 - an unparsable body simply carries no token
        return ""


async def check_presession_csrf(request: Request) -> None:
    nonce = request.cookies.get(PRESESSION_COOKIE) or ""
    key = await secret_key(request)
    expected = hmac.new(key.encode(), nonce.encode(), hashlib.sha256).hexdigest()
    if not nonce or not constant_time.equal(expected, _submitted_token(request)):
        raise Forbidden("The form expired or did not come from this site. Reload the page and try again.")


def check_csrf(request: Request) -> None:
    admin = request.ctx.admin
    if not admin or not constant_time.equal(admin["csrf_token"], _submitted_token(request)):
        raise Forbidden("The form expired or did not come from this site. Reload the page and try again.")


# -- the decorator every admin view wears ---------------------------------------------------------

Handler = Callable[..., Awaitable[HTTPResponse]]


def admin_view(role: str = "viewer", *, max_body: int | None = None) -> Callable[[Handler], Handler]:
    """Require a signed-in admin with at least `role`; POST/PUT/PATCH/DELETE also need the CSRF token.
    max_body: the route takes bodies past [server] max_body_bytes (an upload): it is declared with stream=True,
    so Sanic's app-wide limit does not apply, and its body is read here, once the admin is known, up to max_body
    (PayloadTooLarge, a 413, beyond). Every other route, the webhooks first of all, keeps the small limit."""
    if role not in ROLES:
        raise ValueError(role)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            admin = await load_admin(request)
            mutating = request.method not in ("GET", "HEAD", "OPTIONS")
            if admin is None:
                if mutating:
                    raise Forbidden("Sign in first.")
                return redirect(f"/admin/login?next={_quote(request.path)}")
            if mutating:
                if max_body is not None:
                    await receive_body(request, max_body)  # the CSRF token is in the body
                check_csrf(request)
            if not role_at_least(admin["role"], role):
                raise Forbidden(f"This needs the {role} role; you are signed in as {admin['role']}.")
            return await handler(request, *args, **kwargs)

        vars(wrapper)["admin_role"] = role  # read by the route-coverage test
        vars(wrapper)["max_body"] = max_body  # read by the upload-limit test: stream=True routes only
        return wrapper

    return decorate


def _quote(path: str) -> str:
    return quote(path, safe="/")


def safe_next(value: str | None) -> str:
    """Only same-site admin paths after sign-in (no open redirect to //evil.example)."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/"


# -- login throttling -------------------------------------------------------------------------------


def _fail_keys(email: str, ip: str) -> tuple[str, str]:
    return f"admin-login-fail:acct:{email.strip().lower()}", f"admin-login-fail:ip:{ip}"


def login_blocked(cache: Any, email: str, ip: str) -> bool:
    account_key, ip_key = _fail_keys(email, ip)
    return (cache.get(account_key, 0) >= MAX_FAILS_PER_ACCOUNT) or (cache.get(ip_key, 0) >= MAX_FAILS_PER_IP)


def record_login_failure(cache: Any, email: str, ip: str) -> None:
    for key in _fail_keys(email, ip):
        # add() starts the window only once; incr() then counts within it (the expiry is not extended).
        cache.add(key, 0, expire=LOGIN_WINDOW_SECONDS)
        cache.incr(key, default=0)


def clear_login_failures(cache: Any, email: str) -> None:
    cache.delete(_fail_keys(email, "")[0])
