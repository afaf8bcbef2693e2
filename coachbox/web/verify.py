"""GET /verify/<code>: the public certificate check (first name, course, date, valid or revoked; no phone)."""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup, escape
from sanic import Blueprint, Request, Sanic
from sanic.response import html

from coachbox.certificates import wording
from coachbox.certificates.codes import normalise_code
from coachbox.certificates.service import local_date_text
from coachbox.store import certificates as store

bp = Blueprint("verify")


def _language(settings, certificate, asked: str | None) -> str:
    """The certificate's language; for an unknown code, ?lang= when a locale file has it, else the school's."""
    for code in ((certificate.language if certificate else None), asked, settings.org.default_language):
        if code and code.isalpha() and (settings.content_dir / "locales" / f"{code}.toml").is_file():
            return code
    return wording.FALLBACK_LANGUAGE


def _texts(settings, language: str, *, org: str, code: str) -> dict[str, Markup]:
    """The page's sentences, escaped, with the values escaped too (the code comes from the URL: never trusted).
    In the body the code is bold; in <title> (plain text) it is not."""
    plain = {"org": org, "code": code, "example": "K7QM-3XPA"}
    bold = {
        **plain,
        "code": Markup("<strong>{}</strong>").format(code),
        "example": Markup("<strong>K7QM-3XPA</strong>"),
    }
    return {
        key: Markup(escape(text)).format_map(_Keep(plain if key.startswith("title_") else bold))
        for key, text in wording.table(settings, language, "certificate_verify").items()
        if isinstance(text, str)
    }


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@bp.get("/verify/<code:str>")
async def verify(request: Request, code: str):
    services = request.app.ctx.services
    settings = services.settings
    wanted = normalise_code(code)[:20]
    certificate = await services.db.run(store.by_code, wanted)
    language = _language(settings, certificate, request.args.get("lang"))
    page = request.app.ctx.verify_template.render(
        lang=language,
        t=_texts(settings, language, org=settings.org.name, code=certificate.code if certificate else wanted),
        org=settings.org.name,
        certificate=certificate,
        code=wanted,
        first_name=(certificate.learner_name.split() or [""])[0] if certificate else "",
        issued=local_date_text(settings, language, certificate.issued_at) if certificate else "",
        revoked=local_date_text(settings, language, certificate.revoked_at)
        if certificate and certificate.revoked_at
        else "",
    )
    # no-store: a revocation must show at once, not after a cache expires.
    headers = {
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return html(page, status=200 if certificate else 404, headers=headers)


def setup(app: Sanic) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
    )
    app.ctx.verify_template = environment.get_template("verify.html")
    app.blueprint(bp)
