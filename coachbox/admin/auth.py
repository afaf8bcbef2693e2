"""Admin sign-in pages: first-run setup, sign-in/out, password change and reset, users, audit log."""

from __future__ import annotations

import asyncio
import logging

from sanic import Blueprint, Request
from sanic.exceptions import Forbidden, NotFound
from sanic.response import HTTPResponse

from coachbox.admin import accounts, passwords
from coachbox.admin import security as sec
from coachbox.admin.pages import back, field, render
from coachbox.core.addresses import client_ip
from coachbox.store import admins, transaction
from coachbox.store import secrets as box_secrets

bp = Blueprint("admin_auth", url_prefix="/admin")
log = logging.getLogger("coachbox.admin.auth")


async def _off_loop(fn, *args):
    """argon2 (~tens of ms) and zxcvbn (up to ~60 ms) run in the default thread pool: not on the event loop, and
    not on the database's writer thread."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _password_problems(request: Request, email: str) -> list[str]:
    """The new password's problems: too short or guessable (zxcvbn, with the email and the school's name as
    words an attacker would try first), or the two fields differ."""
    return list((await _password_field_problems(request, email)).values())


async def _password_field_problems(request: Request, email: str) -> dict[str, str]:
    """The same problems by the field they are about (`password`, `password2`), to show beside it."""
    password, again = field(request, "password"), field(request, "password2")
    inputs = (email, request.app.ctx.services.settings.org.name)
    problem = await _off_loop(passwords.password_problem, password, inputs)
    problems = {"password": problem} if problem else {}
    if password != again:
        problems["password2"] = "The two passwords are not the same."
    return problems


async def _anonymous_page(request: Request, template: str, *, status: int = 200, **context) -> HTTPResponse:
    """A page shown before sign-in, with its double-submit CSRF token."""
    cookie: dict = {}
    token = await sec.presession_token(request, cookie)
    response = render(request, template, status=status, csrf_token=token, **context)
    sec.set_presession_cookie(request, response, cookie)
    return response


# -- first run ------------------------------------------------------------------------------------


def _setup_link_refused(request: Request, state: str) -> HTTPResponse:
    if state == "expired":
        return render(
            request,
            "message.html",
            status=410,
            heading="This first-run link has expired",
            text="First-run links work for 24 hours. On the box, run `coachbox admin reset` (in Docker: "
            "`docker compose exec coachbox coachbox admin reset`): it prints a new link.",
            link="/admin/login",
            link_label="Sign in",
        )
    return render(
        request,
        "message.html",
        status=404,
        heading="This link does not work",
        text="The first-run link was already used, a newer one replaced it, or it is mistyped. Sign in instead; "
        "with no account yet, run `coachbox admin reset` on the box for a new link.",
        link="/admin/login",
        link_label="Sign in",
    )


@bp.get("/setup")
async def setup_page(request: Request):
    services = request.app.ctx.services
    token = request.args.get("token", "")
    state = await services.db.run(box_secrets.setup_token_state, token, services.clock.now())
    if state != "valid":
        return _setup_link_refused(request, state)
    return await _anonymous_page(
        request,
        "set_password.html",
        heading="Create the owner account",
        intro="You are the first person here: you will own this box (users, settings, everything).",
        action="/admin/setup",
        token=token,
        ask_email=True,
        email="",
        errors=[],
        button="Create account",
    )


def _first_owner(conn, token: str, email: str, new_hash: str, now) -> int | None:
    admin_id = accounts.create_first_owner(conn, token, email, "", now, new_hash=new_hash)
    if admin_id is not None:
        admins.audit(conn, admin_id, "admin.first_owner", f"admin:{email}", now)
    return admin_id


@bp.post("/setup")
async def setup_submit(request: Request):
    await sec.check_presession_csrf(request)
    services = request.app.ctx.services
    token, email = field(request, "token"), field(request, "email").strip()
    state = await services.db.run(box_secrets.setup_token_state, token, services.clock.now())
    if state != "valid":
        return _setup_link_refused(request, state)
    problems = await _password_problems(request, email)
    if "@" not in email:
        problems.append("Enter your email address.")
    if problems:
        return await _anonymous_page(
            request,
            "set_password.html",
            status=400,
            heading="Create the owner account",
            intro="",
            action="/admin/setup",
            token=token,
            ask_email=True,
            email=email,
            errors=problems,
            button="Create account",
        )
    new_hash = await _off_loop(passwords.hash_password, field(request, "password"))
    admin_id = await services.db.run(_first_owner, token, email, new_hash, services.clock.now())
    if admin_id is None:
        raise Forbidden("This first-run link was already used.")
    response = back("/admin/")
    await sec.start_session(request, response, admin_id)
    return response


# -- sign in / out --------------------------------------------------------------------------------


@bp.get("/login")
async def login_page(request: Request):
    if await sec.load_admin(request):
        return back(sec.safe_next(request.args.get("next")))
    return await _anonymous_page(
        request, "login.html", next=sec.safe_next(request.args.get("next")), email="", errors=[]
    )


@bp.post("/login")
async def login_submit(request: Request):
    await sec.check_presession_csrf(request)
    services = request.app.ctx.services
    email = field(request, "email").strip()
    password = field(request, "password")
    next_url = sec.safe_next(field(request, "next"))
    ip = client_ip(request)
    if sec.login_blocked(services.cache, email, ip):
        log.warning("sign-in throttled: too many failures", extra={"email": email[:200], "ip": ip})
        return await _anonymous_page(
            request,
            "login.html",
            status=429,
            next=next_url,
            email=email,
            errors=["Too many failed attempts. Wait 15 minutes and try again, or ask the owner for a reset link."],
        )
    row = await services.db.run(admins.admin_by_email, email) if email else None
    ok = await _verify(request, password, row["password_hash"] if row is not None else None)
    if not ok or row is None or row["disabled"]:
        sec.record_login_failure(services.cache, email, ip)
        reason = "unknown email" if row is None else ("disabled account" if row["disabled"] else "wrong password")
        log.warning("sign-in failed", extra={"email": email[:200], "ip": ip, "reason": reason})
        return await _anonymous_page(
            request,
            "login.html",
            status=401,
            next=next_url,
            email=email,
            errors=["That email and password do not match."],
        )
    sec.clear_login_failures(services.cache, email)
    await _upgrade_hash(request, row["id"], row["password_hash"], password)
    response = back(next_url)
    await sec.start_session(request, response, row["id"])
    return response


@bp.post("/logout")
@sec.admin_view("viewer")
async def logout(request: Request):
    await request.app.ctx.services.db.run(admins.delete_session, request.ctx.session_id)
    response = back("/admin/login", "signedout")
    sec.clear_session_cookie(response)
    return response


async def _verify(request: Request, password: str, stored: str | None) -> bool:
    """argon2id off the event loop and off the writer thread; an argon2id dummy hash (same parameters) for unknown
    accounts so the response time does not tell which emails exist."""
    if not stored:
        await _off_loop(passwords.verify_password, password, passwords.DUMMY_HASH)  # only for its time
        return False
    return await _off_loop(passwords.verify_password, password, stored)


async def _upgrade_hash(request: Request, admin_id: int, stored: str, password: str) -> None:
    """After a successful sign-in: a scrypt hash (before argon2id) or one with older argon2 parameters is replaced
    by today's, now that the password is at hand (compare-and-set: a password changed meanwhile wins)."""
    if not passwords.needs_rehash(stored):
        return
    new_hash = await _off_loop(passwords.hash_password, password)
    if await request.app.ctx.services.db.run(admins.replace_password_hash, admin_id, stored, new_hash):
        log.info("password hash upgraded to argon2id", extra={"admin_id": admin_id})


# -- own password ---------------------------------------------------------------------------------


@bp.get("/account")
@sec.admin_view("viewer")
async def account(request: Request):
    return render(request, "account.html", errors=[])


@bp.post("/account/password")
@sec.admin_view("viewer")
async def change_password(request: Request):
    services = request.app.ctx.services
    admin = request.ctx.admin
    row = await services.db.run(admins.admin_by_id, admin["admin_id"])
    problems = await _password_field_problems(request, row["email"])
    if not await _verify(request, field(request, "current"), row["password_hash"] or ""):
        problems = {"current": "The current password is wrong.", **problems}
    if problems:  # beside each field; passwords are never sent back, so the fields are empty again
        return render(request, "account.html", status=400, errors=list(problems.values()), field_errors=problems)

    new_hash = await _off_loop(passwords.hash_password, field(request, "password"))

    def change(conn, admin_id: int, keep: str, now) -> None:
        with transaction(conn):
            conn.execute("UPDATE admins SET password_hash = ? WHERE id = ?", (new_hash, admin_id))
            admins.delete_admin_sessions(conn, admin_id, keep=keep)
            admins.audit(conn, admin_id, "password.change", f"admin:{admin_id}", now)

    await services.db.run(change, admin["admin_id"], request.ctx.session_id, services.clock.now())
    return back("/admin/account", "password")


# -- reset links (made by the owner or `coachbox admin add/reset`) -----------------------------------


@bp.get("/reset")
async def reset_page(request: Request):
    services = request.app.ctx.services
    token = request.args.get("token", "")
    row = await services.db.run(accounts.token_admin, token, services.clock.now())
    email = row["email"] if row else None
    if email is None:
        return render(
            request,
            "message.html",
            status=404,
            heading="This link does not work",
            text="It was already used, it expired, or it is mistyped. Ask the owner for a new one.",
            link="/admin/login",
            link_label="Sign in",
        )
    return await _anonymous_page(
        request,
        "set_password.html",
        heading="Set your password",
        intro="Choose the password you will sign in with.",
        action="/admin/reset",
        token=token,
        ask_email=False,
        email=email,
        errors=[],
        button="Set password",
    )


def _use_token(conn, token: str, new_hash: str, now) -> int | None:
    admin_id = accounts.use_token(conn, token, "", now, new_hash=new_hash)
    if admin_id is not None:
        # A reset ends every other session: whoever knew the old password is signed out.
        admins.delete_admin_sessions(conn, admin_id)
        admins.audit(conn, admin_id, "password.reset", f"admin:{admin_id}", now)
    return admin_id


@bp.post("/reset")
async def reset_submit(request: Request):
    await sec.check_presession_csrf(request)
    services = request.app.ctx.services
    token = field(request, "token")
    row = await services.db.run(accounts.token_admin, token, services.clock.now())
    email = row["email"] if row else None
    if email is None:
        raise NotFound("This reset link was already used or has expired.")
    problems = await _password_problems(request, email)
    if problems:
        return await _anonymous_page(
            request,
            "set_password.html",
            status=400,
            heading="Set your password",
            intro="",
            action="/admin/reset",
            token=token,
            ask_email=False,
            email=email,
            errors=problems,
            button="Set password",
        )
    new_hash = await _off_loop(passwords.hash_password, field(request, "password"))
    admin_id = await services.db.run(_use_token, token, new_hash, services.clock.now())
    if admin_id is None:
        raise NotFound("This reset link was already used or has expired.")
    response = back("/admin/")
    await sec.start_session(request, response, admin_id)
    return response
