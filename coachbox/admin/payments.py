"""The admin payments page: list/filter, totals, review queue, refund marker, manual grant, CSV (admin's layout)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import jinja2
from sanic import Blueprint, Request, Sanic
from sanic.exceptions import BadRequest, NotFound
from sanic.response import HTTPResponse, html, raw

from coachbox.admin import security as sec
from coachbox.admin.pages import back, field, security_headers, times_of
from coachbox.admin.payment_setup import payment_setup
from coachbox.admin.scope import scope_for
from coachbox.admin.times import Times
from coachbox.core.hostile import csv_row
from coachbox.core.plans import format_amount
from coachbox.payments.runtime import payments
from coachbox.payments.subscriptions import grant_prepaid, local_day, notify
from coachbox.store import admins, transaction
from coachbox.store import payments as store

bp = Blueprint("admin_payments", url_prefix="/admin")
TEMPLATES = Path(__file__).parent / "templates"
NOTICES = {
    "refunded": "Marked as refunded. Access was not changed: end it with the learner if needed.",
    "granted": "Access granted; the learner was told on WhatsApp.",
    "resolved": "Review closed.",
}
MAX_GRANT_DAYS = 3660


def _env(app: Sanic) -> jinja2.Environment:
    """The admin's environment (its filters, autoescape, base.html) with our templates in front."""
    env = getattr(app.ctx, "payments_admin_env", None)
    if env is None:
        admin_env = app.ctx.admin_env
        env = admin_env.overlay(loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)), admin_env.loader]))
        env.filters["money"] = lambda amount, currency: format_amount(int(amount), currency)
        app.ctx.payments_admin_env = env
    return env


def _render(request: Request, template: str, **context) -> HTTPResponse:
    admin = request.ctx.admin
    body = (
        _env(request.app)
        .get_template(template)
        .render(
            admin=admin,
            csrf_token=admin["csrf_token"],
            org_name=request.app.ctx.settings.org.name,
            path=request.path,
            notice=NOTICES.get(request.args.get("done") or ""),
            **context,
        )
    )
    return security_headers(html(body))


def _filter(request: Request) -> store.PaymentFilter:
    args = request.args
    page = args.get("page") or "1"
    since, until = _day(args.get("since")), _day(args.get("until"))
    times = times_of(request)  # the dates are the school's days: from its midnight to its midnight
    return store.PaymentFilter(
        scope=scope_for(request.ctx.admin).sql("p.learner_id"),  # a teacher limited to classes: their learners'
        provider=args.get("provider") or "",
        status=args.get("status") or "",
        q=(args.get("q") or "")[:100],
        since=since,
        until=until,
        after=_midnight(times, since),
        before=_midnight(times, until, days=1),
        page=int(page) if page.isdigit() else 1,
    )


def _midnight(times: Times, day: str, days: int = 0) -> str:
    """The UTC instant (ISO) of the school's midnight starting `day` + `days`; "" for no day."""
    start = times.parse_local(f"{day}T00:00") if day else None
    return (start + timedelta(days=days)).isoformat() if start else ""


def _day(value: str | None) -> str:
    try:
        return date.fromisoformat(value).isoformat() if value else ""
    except ValueError:
        return ""


@bp.get("/payments")
@sec.admin_view("viewer")
async def payment_list(request: Request):
    return await _list_page(request)


async def _list_page(request: Request, *, refused: dict | None = None, status: int = 200) -> HTTPResponse:
    """The list; `refused` ({"form": its action, "values": what was typed, "errors": {field: problem}}) is a form
    sent back with what was typed and each problem beside its field."""
    services = request.app.ctx.services
    f = _filter(request)

    limited = not scope_for(request.ctx.admin).everyone

    def load(conn):
        # Open reviews are payments nobody could match to a learner: no class, so not for a limited teacher.
        return store.search_payments(conn, f), [] if limited else store.open_reviews(conn)

    (rows, total, sums), reviews = await services.db.run(load)
    pages = max(1, -(-total // f.per_page))
    query = "&".join(
        f"{k}={v}"
        for k, v in (("provider", f.provider), ("status", f.status), ("q", f.q), ("since", f.since), ("until", f.until))
        if v
    )
    response = _render(
        request,
        "payments.html",
        refused=refused or {"form": "", "values": {}, "errors": {}},
        rows=rows,
        total=total,
        sums=sums,
        reviews=reviews,
        f=f,
        pages=pages,
        query=query,
        providers=store.PROVIDERS,
        statuses=store.STATUSES,
        plans=list(payments(services).plans.values()),
        setup=payment_setup(services.settings),
    )
    response.status = status
    return response


@bp.get("/payments.csv")
@sec.admin_view("editor")
async def payment_csv(request: Request):
    services = request.app.ctx.services
    f = _filter(request)
    rows, _, _ = await services.db.run(
        store.search_payments, store.PaymentFilter(**{**f.__dict__, "page": 1, "per_page": 1_000_000})
    )
    out = io.StringIO()
    writer = csv.writer(out)
    # amount_minor is the exact integer; amount is the same figure for people (never a float).
    writer.writerow(
        [
            "id",
            "created_at",
            "learner_id",
            "learner",
            "phone",
            "provider",
            "plan",
            "status",
            "currency",
            "amount_minor",
            "amount",
            "receipt",
            "reference",
            "paid_at",
            "refunded_at",
            "note",
        ]
    )
    for r in rows:
        # Every cell through csv_row (core.hostile): text that starts a formula gets a quote; our own numbers (the
        # amounts, "-2.50" for a refund too) stay numbers.
        writer.writerow(
            csv_row(
                [
                    r["id"],
                    r["created_at"],
                    r["learner_id"],
                    r["learner_name"] or r["learner_profile"],
                    r["phone"] or r["learner_phone"],
                    r["provider"],
                    r["plan"],
                    r["status"],
                    r["currency"],
                    r["amount_minor"],
                    format_amount(r["amount_minor"], r["currency"]).split(" ", 1)[1],
                    r["receipt"],
                    r["provider_ref"],
                    r["paid_at"],
                    r["refunded_at"],
                    r["note"],
                ]
            )
        )
    await services.db.run(
        _audit, request.ctx.admin["admin_id"], "payments.export_csv", None, services.clock.now(), rows=len(rows)
    )
    return raw(
        out.getvalue().encode("utf-8-sig"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="payments.csv"'},
    )


def _audit(conn, admin_id, action, target, now, **detail):
    with transaction(conn):
        admins.audit(conn, admin_id, action, target, now, **detail)


@bp.post("/payments/<payment_id:int>/refund")
@sec.admin_view("owner")
async def mark_refund(request: Request, payment_id: int):
    services = request.app.ctx.services
    note = field(request, "note").strip()
    if not note:
        problem = "Say how it was refunded (e.g. 'M-PESA reversal QK12…' or 'Stripe dashboard')."
        refused = {
            "form": f"refund-{payment_id}",
            "values": {"note": field(request, "note")},
            "errors": {"note": problem},
        }
        return await _list_page(request, refused=refused, status=400)
    now, admin_id = services.clock.now(), request.ctx.admin["admin_id"]

    def apply(conn):
        with transaction(conn):
            if store.payment(conn, payment_id) is None:
                raise NotFound("No such payment.")
            done = store.mark_refunded(conn, payment_id, note=note, admin_id=admin_id, now=now)
            if not done:
                raise BadRequest("Only a paid payment can be marked refunded.")
            admins.audit(conn, admin_id, "payment.refund_marked", f"payment:{payment_id}", now, note=note)

    await services.db.run(apply)
    return back("/admin/payments", "refunded")


@bp.post("/payments/grant")
@sec.admin_view("owner")
async def manual_grant(request: Request):
    """A scholarship: access without money, recorded as a manual payment of 0 with the reason."""
    services = request.app.ctx.services
    p = payments(services)
    plan = p.plans.get(field(request, "plan"))
    learner = field(request, "learner_id")
    days = field(request, "days")
    note = field(request, "note").strip()
    problems = {}
    if plan is None:
        problems["plan"] = "Choose one of the plans in coachbox.toml."
    if not learner.strip().isdigit():
        problems["learner_id"] = "Give the learner's number (shown on their page in Learners)."
    if not (days.strip().isdigit() and 1 <= int(days) <= MAX_GRANT_DAYS):
        problems["days"] = f"Days must be a whole number from 1 to {MAX_GRANT_DAYS}."
    if not note:
        problems["note"] = "Write the reason (e.g. 'scholarship, term 2'): it goes in the payments list and audit log."
    if problems:
        values = {"learner_id": learner, "plan": field(request, "plan"), "days": days, "note": field(request, "note")}
        return await _list_page(request, refused={"form": "grant", "values": values, "errors": problems}, status=400)
    assert plan is not None  # for mypy: a missing plan is a problem above
    learner, days = learner.strip(), days.strip()
    now, admin_id = services.clock.now(), request.ctx.admin["admin_id"]

    def apply(conn):
        with transaction(conn):
            if store.learner_contact(conn, int(learner)) is None:
                raise NotFound("No such learner.")
            payment_id = store.create_payment(
                conn,
                learner_id=int(learner),
                plan=plan.name,
                plan_snapshot_id=None,
                provider="manual",
                amount_minor=0,
                currency=plan.prices[0][0],
                period_days=int(days),
                now=now,
                status="paid",
                note=note[:500],
                admin_id=admin_id,
            )
            if payment_id is None:  # only a replayed provider_ref is skipped, and a manual grant has none
                raise RuntimeError("the manual payment was not recorded")
            grant = grant_prepaid(conn, learner_id=int(learner), plan=plan, provider="manual", now=now, days=int(days))
            store.link_subscription(conn, payment_id, grant.subscription_id)
            admins.audit(
                conn,
                admin_id,
                "payment.manual_grant",
                f"learner:{learner}",
                now,
                plan=plan.name,
                days=int(days),
                note=note,
            )
            notify(
                conn,
                p.texts,
                int(learner),
                "granted",
                now=now,
                idempotency_key=f"payments:granted:{payment_id}",
                plan=plan.title,
                date=local_day(grant.period_end, conn, int(learner)),
            )

    await services.db.run(apply)
    sender = services.sender
    if sender is not None:
        sender.kick()
    return back("/admin/payments", "granted")


@bp.post("/payments/reviews/<review_id:int>/resolve")
@sec.admin_view("owner")
async def resolve_review(request: Request, review_id: int):
    services = request.app.ctx.services
    resolution = field(request, "resolution").strip()
    if not resolution:
        problem = "Say what you did about it (e.g. 'forged, ignored' or 'granted manually')."
        values = {"resolution": field(request, "resolution")}
        refused = {"form": f"resolve-{review_id}", "values": values, "errors": {"resolution": problem}}
        return await _list_page(request, refused=refused, status=400)
    now, admin_id = services.clock.now(), request.ctx.admin["admin_id"]

    def apply(conn):
        with transaction(conn):
            if not store.resolve_review(conn, review_id, resolution=resolution, admin_id=admin_id, now=now):
                raise NotFound("No such open review.")
            admins.audit(
                conn, admin_id, "payment.review_resolved", f"payment_review:{review_id}", now, resolution=resolution
            )

    await services.db.run(apply)
    return back("/admin/payments", "resolved")


def setup(app: Sanic) -> None:
    app.blueprint(bp)
