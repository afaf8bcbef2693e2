"""Owner-only pages: admins and their roles, reset links, the audit log and API tokens."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound

from coachbox.admin import accounts
from coachbox.admin import security as sec
from coachbox.admin.audit import audit_page
from coachbox.admin.pages import back, confirm_page, confirmed, field, render
from coachbox.core.errors import UserError
from coachbox.store import admins, transaction

bp = Blueprint("admin_users", url_prefix="/admin")


@bp.get("/users")
@sec.admin_view("owner")
async def users(request: Request):
    rows = await request.app.ctx.services.db.run(admins.list_admins)
    return render(request, "users.html", users=rows, roles=sec.ROLES, link=None, link_email="", errors=[])


@bp.post("/users")
@sec.admin_view("owner")
async def add_user(request: Request):
    services = request.app.ctx.services
    email, role = field(request, "email").strip(), field(request, "role")
    errors: dict[str, str] = {}
    if "@" not in email:
        errors["email"] = "Enter an email address, such as name@school.org."
    if role not in sec.ROLES:
        errors["role"] = "Choose a role."
    if not errors and await services.db.run(admins.admin_by_email, email):
        errors["email"] = f"{email} can already sign in; use Reset link for a new password."
    if not errors:
        try:
            link = await services.db.run(
                _add, email, role, request.ctx.admin["admin_id"], services.settings, services.clock.now()
            )
        except UserError as exc:
            errors["email"] = str(exc)
    if errors:  # the form again, with what was typed and each problem beside its field
        rows = await services.db.run(admins.list_admins)
        return render(
            request,
            "users.html",
            status=400,
            users=rows,
            roles=sec.ROLES,
            link=None,
            link_email="",
            errors=list(errors.values()),
            new_user={"email": email, "role": role, "errors": errors},
        )
    rows = await services.db.run(admins.list_admins)
    return render(request, "users.html", users=rows, roles=sec.ROLES, link=link, link_email=email, errors=[])


def _link(settings, token: str) -> str:
    return f"{settings.server.public_url.rstrip('/')}/admin/reset?token={token}"


def _add(conn, email, role, by, settings, now) -> str:
    with transaction(conn):
        admin_id = accounts.add_admin(conn, email, role, now)
        admins.audit(conn, by, "admin.add", f"admin:{email}", now, role=role)
    return _link(settings, accounts.issue_token(conn, admin_id, now, purpose="invite"))


async def _target(request: Request, admin_id: int):
    row = await request.app.ctx.services.db.run(admins.admin_by_id, admin_id)
    if row is None:
        raise NotFound("No such admin.")
    return row


@bp.post("/users/<admin_id:int>/role")
@sec.admin_view("owner")
async def set_role(request: Request, admin_id: int):
    services = request.app.ctx.services
    role = field(request, "role")
    if role not in sec.ROLES:
        raise BadRequest("Unknown role.")
    target = await _target(request, admin_id)

    def change(conn, now) -> bool:
        with transaction(conn):
            if target["role"] == "owner" and role != "owner" and admins.owner_count(conn) <= 1:
                return False  # never leave the box without an owner
            conn.execute("UPDATE admins SET role = ? WHERE id = ?", (role, admin_id))
            admins.audit(
                conn,
                request.ctx.admin["admin_id"],
                "admin.role",
                f"admin:{target['email']}",
                now,
                old=target["role"],
                new=role,
            )
            return True

    if not await services.db.run(change, services.clock.now()):
        return await _refused(
            request, f"{target['email']} is the only owner: make someone else owner first, then change this role."
        )
    return back("/admin/users", "saved")


@bp.post("/users/<admin_id:int>/<action:disable|enable>")
@sec.admin_view("owner")
async def set_disabled(request: Request, admin_id: int, action: str):
    services = request.app.ctx.services
    target = await _target(request, admin_id)
    disable = action == "disable"
    if disable and not target["disabled"] and not confirmed(request):
        yourself = admin_id == request.ctx.admin["admin_id"]
        return confirm_page(
            request,
            heading=f"Disable {target['email']}?",
            consequences=[
                ("You are signed out at once" if yourself else f"{target['email']} is signed out at once")
                + " (every session) and cannot sign in until an owner enables the account again.",
                "Nothing they did is undone: their changes and the audit log stay.",
            ],
            action=f"/admin/users/{admin_id}/disable",
            button="Disable",
            cancel="/admin/users",
            danger=True,
        )

    def change(conn, now) -> bool:
        with transaction(conn):
            if disable and target["role"] == "owner" and admins.owner_count(conn) <= 1:
                return False
            conn.execute("UPDATE admins SET disabled = ? WHERE id = ?", (int(disable), admin_id))
            if disable:
                admins.delete_admin_sessions(conn, admin_id)
            admins.audit(conn, request.ctx.admin["admin_id"], f"admin.{action}", f"admin:{target['email']}", now)
            return True

    if not await services.db.run(change, services.clock.now()):
        return await _refused(
            request, f"{target['email']} is the only active owner: make someone else owner first, then disable."
        )
    return back("/admin/users", "saved")


async def _refused(request: Request, reason: str):
    """A refused change, said on the Users page itself (409) so the owner sees why and what to do instead."""
    rows = await request.app.ctx.services.db.run(admins.list_admins)
    return render(
        request, "users.html", status=409, users=rows, roles=sec.ROLES, link=None, link_email="", errors=[reason]
    )


@bp.post("/users/<admin_id:int>/reset")
@sec.admin_view("owner")
async def reset_link(request: Request, admin_id: int):
    services = request.app.ctx.services
    target = await _target(request, admin_id)

    def make(conn, now) -> str:
        admins.audit(conn, request.ctx.admin["admin_id"], "admin.reset_link", f"admin:{target['email']}", now)
        return _link(services.settings, accounts.issue_token(conn, admin_id, now, purpose="reset"))

    link = await services.db.run(make, services.clock.now())
    rows = await services.db.run(admins.list_admins)
    return render(request, "users.html", users=rows, roles=sec.ROLES, link=link, link_email=target["email"], errors=[])


@bp.get("/audit")
@sec.admin_view("owner")
async def audit_log(request: Request):
    return await audit_page(request)  # admin/audit.py: sentences, local time, filters


# -- API tokens -----------------------------------------------------------------------------------


@bp.get("/tokens")
@sec.admin_view("owner")
async def tokens(request: Request):
    rows = await request.app.ctx.services.db.run(admins.list_api_tokens)
    return render(request, "tokens.html", tokens=rows, new_token=None, roles=sec.ROLES)


@bp.post("/tokens")
@sec.admin_view("owner")
async def create_token(request: Request):
    services = request.app.ctx.services
    name = field(request, "name").strip()[:80]
    role = field(request, "role", "viewer")
    if not name or role not in sec.ROLES:
        problem = {"name": "Give the token a name: what will use it (a spreadsheet, a report…)."}
        if role not in sec.ROLES:
            problem = {"role": "Choose a scope: viewer, editor or owner."}
        rows = await services.db.run(admins.list_api_tokens)
        typed = {"name": field(request, "name"), "role": role, "errors": problem}
        return render(request, "tokens.html", status=400, tokens=rows, new_token=None, roles=sec.ROLES, typed=typed)

    def create(conn, now):
        with transaction(conn):
            token_id, token = admins.create_api_token(conn, name, role, now)
            admins.audit(
                conn,
                request.ctx.admin["admin_id"],
                "api_token.create",
                f"api_token:{token_id}",
                now,
                name=name,
                role=role,
            )
        return token

    token = await services.db.run(create, services.clock.now())
    rows = await services.db.run(admins.list_api_tokens)
    return render(request, "tokens.html", tokens=rows, new_token=token, roles=sec.ROLES)


@bp.post("/tokens/<token_id:int>/revoke")
@sec.admin_view("owner")
async def revoke_token(request: Request, token_id: int):
    services = request.app.ctx.services
    if not confirmed(request):
        rows = await services.db.run(admins.list_api_tokens)
        token = next((t for t in rows if t["id"] == token_id and not t["revoked_at"]), None)
        if token is None:
            raise NotFound("No such API token, or it is revoked already.")
        return confirm_page(
            request,
            heading=f"Revoke the API token “{token['name']}”?",
            consequences=[
                "Every program using it is refused at once (HTTP 401) from its next call.",
                "This cannot be undone: to let a program in again, create a new token and give it that one.",
            ],
            action=f"/admin/tokens/{token_id}/revoke",
            button="Revoke token",
            cancel="/admin/tokens",
            keep="Keep it",
            danger=True,
        )

    def revoke(conn, now):
        with transaction(conn):
            if admins.revoke_api_token(conn, token_id, now):
                admins.audit(conn, request.ctx.admin["admin_id"], "api_token.revoke", f"api_token:{token_id}", now)

    await services.db.run(revoke, services.clock.now())
    return back("/admin/tokens", "revoked")
