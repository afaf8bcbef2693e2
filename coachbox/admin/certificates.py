"""Issued certificates: list and search them, and revoke one (the public verify page then says so)."""

from __future__ import annotations

from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest

from coachbox.admin import security as sec
from coachbox.admin.pages import back, field, render
from coachbox.admin.scope import scope_for
from coachbox.store import certificates as store_certificates
from coachbox.store import transaction

bp = Blueprint("admin_certificates", url_prefix="/admin")
PER_PAGE = 50
STATUSES = ("valid", "revoked")


@bp.get("/certificates")
@sec.admin_view("viewer")
async def certificate_list(request: Request):
    return await _list_page(request)


async def _list_page(request: Request, *, refused: dict | None = None, status_code: int = 200):
    """The list; `refused` ({"code", "reason", "error"}) is a revoke form sent back open, its problem beside it."""
    services = request.app.ctx.services
    status = request.args.get("status") if request.args.get("status") in STATUSES else ""
    search = (request.args.get("q") or "").strip()[:100]
    page = int(request.args.get("page")) if (request.args.get("page") or "").isdigit() else 1
    page = max(1, page)

    scope = scope_for(request.ctx.admin).sql("c.learner_id")  # a teacher limited to classes: their learners' only

    def load(conn):
        # One row more than a page tells whether there is a next page without counting every certificate.
        rows = store_certificates.list_certificates(
            conn,
            status=status or None,
            search=search or None,
            limit=PER_PAGE + 1,
            offset=(page - 1) * PER_PAGE,
            scope=scope,
        )
        return rows, store_certificates.count_certificates(conn, scope)

    rows, counts = await services.db.run(load)

    query = urlencode({k: v for k, v in (("q", search), ("status", status)) if v})
    return render(
        request,
        "certificates.html",
        status=status_code,
        refused=refused or {"code": "", "reason": "", "error": ""},
        rows=rows[:PER_PAGE],
        more=len(rows) > PER_PAGE,
        page=page,
        counts=counts,
        cert_status=status,
        search=search,
        query=query,
        statuses=STATUSES,
    )


@bp.post("/certificates/<code>/revoke")
@sec.admin_view("editor")
async def revoke(request: Request, code: str):
    services = request.app.ctx.services
    reason = field(request, "reason").strip()[:200]
    if not reason:
        problem = "Say why the certificate is revoked: the reason is kept in the audit log."
        refused = {"code": code, "reason": field(request, "reason"), "error": problem}
        return await _list_page(request, refused=refused, status_code=400)

    def change(conn, now):
        with transaction(conn):
            # revoke_certificate writes the audit row itself (certificate.revoke, with the reason).
            return store_certificates.revoke_certificate(
                conn,
                code[:64],
                now=now,
                admin_id=request.ctx.admin["admin_id"],
                reason=reason,
                scope=scope_for(request.ctx.admin).sql_one("certificates.learner_id"),
            )

    if not await services.db.run(change, services.clock.now()):
        raise BadRequest("No such certificate, or it is already revoked.")
    return back("/admin/certificates", "revoked_certificate")
