"""Classes and their teachers: the Classes page, a learner's classes, and which classes an admin or API token sees."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound

from coachbox.admin import security as sec
from coachbox.admin.learners import learner_in_scope, learner_page
from coachbox.admin.pages import back, field, form, render
from coachbox.admin.scope import scope_for
from coachbox.store import admins, transaction
from coachbox.store import classes as q

bp = Blueprint("admin_classes", url_prefix="/admin")


@bp.get("/classes")
@sec.admin_view("viewer")
async def class_list(request: Request):
    """Every class with its learners and teachers (a teacher limited to classes sees only theirs)."""
    scope = scope_for(request.ctx.admin)
    rows = await request.app.ctx.services.db.run(q.list_classes, None if scope.everyone else scope.classes)
    return render(request, "classes.html", rows=rows, limited=not scope.everyone, errors=[])


async def _page_with_error(request: Request, error: str, status: int = 400, *, typed: dict | None = None):
    """The page again with the problem; `typed` ({"form": "new" or the class renamed, "value": …}) puts what was
    typed back in its field with the problem beside it."""
    rows = await request.app.ctx.services.db.run(q.list_classes, None)
    typed = {**typed, "error": error} if typed else None
    return render(request, "classes.html", status=status, rows=rows, limited=False, errors=[error], typed=typed)


@bp.post("/classes")
@sec.admin_view("owner")
async def class_create(request: Request):
    services = request.app.ctx.services
    name = q.clean_name(field(request, "name"))
    if not name:
        return await _page_with_error(
            request,
            "Give the class a name (up to 80 characters), e.g. Form 2 North.",
            typed={"form": "new", "value": field(request, "name")},
        )

    def create(conn, now) -> bool:
        with transaction(conn):
            made = q.create(conn, name, now)
            if made:
                admins.audit(conn, request.ctx.admin["admin_id"], "class.create", f"class:{name}", now)
        return made

    if not await services.db.run(create, services.clock.now()):
        return await _page_with_error(
            request, f"A class named {name} exists already.", 409, typed={"form": "new", "value": name}
        )
    return back("/admin/classes", "class_saved")


@bp.post("/classes/rename")
@sec.admin_view("owner")
async def class_rename(request: Request):
    services = request.app.ctx.services
    old, new = field(request, "name"), q.clean_name(field(request, "new_name"))
    if not new:
        return await _page_with_error(
            request,
            f"Give {old} a new name (up to 80 characters).",
            typed={"form": old, "value": field(request, "new_name")},
        )

    def change(conn, now) -> str | None:
        with transaction(conn):
            why = q.rename(conn, old, new, now)
            if why is None and old != new:
                admins.audit(conn, request.ctx.admin["admin_id"], "class.rename", f"class:{new}", now, old=old)
        return why

    why = await services.db.run(change, services.clock.now())
    if why == "no such class":
        raise NotFound("No such class.")
    if why:
        return await _page_with_error(
            request, f"{old} was not renamed: {why}. Choose another name.", 409, typed={"form": old, "value": new}
        )
    return back("/admin/classes", "class_saved")


@bp.post("/classes/delete")
@sec.admin_view("owner")
async def class_delete(request: Request):
    services = request.app.ctx.services
    name = field(request, "name")

    def change(conn, now) -> bool:
        with transaction(conn):
            gone = q.delete_empty(conn, name)
            if gone:
                admins.audit(conn, request.ctx.admin["admin_id"], "class.delete", f"class:{name}", now)
        return gone

    if not await services.db.run(change, services.clock.now()):
        return await _page_with_error(
            request, f"{name} still has learners: move them to another class first (on each learner's page).", 409
        )
    return back("/admin/classes", "class_deleted")


# -- a learner's classes (the learner page's forms) -----------------------------------------------


@bp.post("/learners/<learner_id:int>/classes")
@sec.admin_view("editor")
async def learner_class_add(request: Request, learner_id: int):
    """Put a learner in a class (made when new: only admins not limited to classes may make one)."""
    services = request.app.ctx.services
    await learner_in_scope(request, learner_id)
    scope = scope_for(request.ctx.admin)
    name = q.clean_name(field(request, "class_name"))
    problem = ""
    if not name:
        problem = "Choose or type a class (up to 80 characters)."
    elif not scope.allows_class(name):
        problem = f"You can put learners only in your classes: {', '.join(scope.classes)}."
    if problem:
        typed = {"body": field(request, "class_name"), "error": problem}
        return await learner_page(request, learner_id, class_add=typed, status=400)

    def change(conn, now):
        with transaction(conn):
            if q.add_learner(conn, learner_id, name, now):
                admins.audit(
                    conn, request.ctx.admin["admin_id"], "learner.class_add", f"learner:{learner_id}", now, name=name
                )

    await services.db.run(change, services.clock.now())
    return back(f"/admin/learners/{learner_id}", "class_added")


@bp.post("/learners/<learner_id:int>/classes/remove")
@sec.admin_view("editor")
async def learner_class_remove(request: Request, learner_id: int):
    """Take a learner out of a class (a limited teacher: out of one of theirs; they may then no longer see them)."""
    services = request.app.ctx.services
    await learner_in_scope(request, learner_id)
    scope = scope_for(request.ctx.admin)
    name = field(request, "class_name")
    if not scope.allows_class(name):
        raise BadRequest(f"You can take learners only out of your classes: {', '.join(scope.classes)}.")

    def change(conn, now) -> bool:
        with transaction(conn):
            removed = q.remove_learner(conn, learner_id, name)
            if removed:
                admins.audit(
                    conn, request.ctx.admin["admin_id"], "learner.class_remove", f"learner:{learner_id}", now, name=name
                )
            return q.in_scope(conn, learner_id, scope.sql_one("learners.id"))

    still_seen = await services.db.run(change, services.clock.now())
    return back(f"/admin/learners/{learner_id}" if still_seen else "/admin/learners", "class_removed")


# -- which classes an admin or an API token is limited to (owners) ----------------------------------


def _chosen(request: Request) -> list[str]:
    return [v for v in form(request).getlist("classes", []) if isinstance(v, str)]


@bp.get("/users/<admin_id:int>/classes")
@sec.admin_view("owner")
async def admin_classes_form(request: Request, admin_id: int):
    def load(conn):
        return admins.admin_by_id(conn, admin_id), q.names(conn), q.for_admin(conn, admin_id)

    target, names, chosen = await request.app.ctx.services.db.run(load)
    if target is None:
        raise NotFound("No such admin.")
    return render(
        request,
        "user_classes.html",
        who=target["email"],
        role=target["role"],
        names=names,
        chosen=chosen,
        action=f"/admin/users/{admin_id}/classes",
        cancel="/admin/users",
    )


@bp.post("/users/<admin_id:int>/classes")
@sec.admin_view("owner")
async def admin_classes_save(request: Request, admin_id: int):
    services = request.app.ctx.services
    chosen = _chosen(request)

    def change(conn, now) -> bool:
        target = admins.admin_by_id(conn, admin_id)
        if target is None:
            return False
        with transaction(conn):
            kept = q.set_for_admin(conn, admin_id, chosen)
            admins.audit(
                conn, request.ctx.admin["admin_id"], "admin.classes", f"admin:{target['email']}", now, classes=kept
            )
        return True

    if not await services.db.run(change, services.clock.now()):
        raise NotFound("No such admin.")
    # Their open sessions read the classes afresh on the next request (security.load_admin): no sign-out needed.
    return back("/admin/users", "saved")


@bp.get("/tokens/<token_id:int>/classes")
@sec.admin_view("owner")
async def token_classes_form(request: Request, token_id: int):
    def load(conn):
        return q.api_token_row(conn, token_id), q.names(conn), q.for_token(conn, token_id)

    token, names, chosen = await request.app.ctx.services.db.run(load)
    if token is None:
        raise NotFound("No such token.")
    return render(
        request,
        "user_classes.html",
        who=f"the API token “{token['name']}”",
        role=token["role"],
        names=names,
        chosen=chosen,
        action=f"/admin/tokens/{token_id}/classes",
        cancel="/admin/tokens",
    )


@bp.post("/tokens/<token_id:int>/classes")
@sec.admin_view("owner")
async def token_classes_save(request: Request, token_id: int):
    services = request.app.ctx.services
    chosen = _chosen(request)

    def change(conn, now) -> bool:
        if q.api_token_row(conn, token_id) is None:
            return False
        with transaction(conn):
            kept = q.set_for_token(conn, token_id, chosen)
            admins.audit(
                conn, request.ctx.admin["admin_id"], "api_token.classes", f"api_token:{token_id}", now, classes=kept
            )
        return True

    if not await services.db.run(change, services.clock.now()):
        raise NotFound("No such token.")
    return back("/admin/tokens", "saved")
