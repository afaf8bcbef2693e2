"""GET /verify/<code>: the public certificate check (first name, course, date, valid or revoked; no phone)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2
from sanic import Blueprint, Request, Sanic
from sanic.response import html

from coachbox.certificates.codes import normalise_code
from coachbox.store import certificates as store

bp = Blueprint("verify")


def _date(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%-d %B %Y") if value else ""


@bp.get("/verify/<code:str>")
async def verify(request: Request, code: str):
    services = request.app.ctx.services
    wanted = normalise_code(code)[:20]
    certificate = await services.db.run(store.by_code, wanted)
    page = request.app.ctx.verify_template.render(
        org=services.settings.org.name,
        certificate=certificate,
        code=wanted,
        first_name=(certificate.learner_name.split() or [""])[0] if certificate else "",
        issued=_date(certificate.issued_at) if certificate else "",
        revoked=_date(certificate.revoked_at) if certificate else "",
    )
    # no-store: a revocation must show at once, not after a cache expires.
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return html(page, status=200 if certificate else 404, headers=headers)


def setup(app: Sanic) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
    )
    app.ctx.verify_template = environment.get_template("verify.html")
    app.blueprint(bp)
