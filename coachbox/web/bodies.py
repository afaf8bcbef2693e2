"""The app's Request class (request.json strict, form text storable) and a refusal of NUL bytes in the path."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import BadRequest
from sanic.request import RequestParameters

from coachbox.core.hostile import BadBody, clean_text, parse_json

log = logging.getLogger("coachbox.web.bodies")


class SafeRequest(Request):
    """Sanic's Request, with one JSON parser for every route and form fields SQLite and Jinja can encode.

    `request.json` answers a body that is not UTF-8 JSON, nests deeper than 64 levels or holds a lone surrogate
    with a 400 (BadRequest, logged); Sanic's own (ujson) keeps "\\ud800" and only stops at 1,024 levels, and
    json.loads recurses until RecursionError. Form fields (and uploaded file names) get any lone surrogate, which
    a multipart part can carry with an odd charset, replaced by U+FFFD: a form is a person's typing, so it is
    mended rather than refused."""

    def load_json(self, loads: Any = None) -> Any:
        if not self.body:
            return None
        try:
            self.parsed_json = parse_json(self.body)
        except BadBody as exc:
            log.warning("request body refused", extra={"path": self.path, "reason": str(exc), "bytes": len(self.body)})
            raise BadRequest(f"Unreadable JSON body: {exc}.") from None
        return self.parsed_json

    def get_form(self, keep_blank_values: bool = False) -> RequestParameters | None:
        form = super().get_form(keep_blank_values)
        if form:
            self.parsed_form = RequestParameters(
                {clean_text(key): [clean_text(v) for v in values] for key, values in form.items()}
            )
        if self.parsed_files:
            self.parsed_files = RequestParameters(
                {
                    clean_text(key): [f._replace(name=clean_text(f.name)) for f in files]
                    for key, files in self.parsed_files.items()
                }
            )
        return self.parsed_form


async def refuse_nul(request: Request) -> None:
    """A NUL byte in the path (/admin/static/%00) reaches os.path.realpath in Sanic's static handler: a ValueError,
    a 500. No route of ours takes one: 400, logged."""
    if "%00" in request.raw_url.decode("latin-1").split("?", 1)[0] or "\x00" in request.path:
        log.warning("request refused: NUL byte in the path", extra={"path": request.path[:200]})
        raise BadRequest("The address holds a NUL byte.")


def setup(app: Sanic) -> None:
    app.register_middleware(refuse_nul, "request", priority=100)  # before anything reads the path
