"""Security headers on every response (webhooks, /healthz, /metrics, /media, errors), not only the admin pages."""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from coachbox.admin.pages import security_headers

# Nothing but admin pages (and the few public pages that set their own) is meant to render in a browser: JSON, XML,
# files. Should one be opened anyway, it may load nothing, run nothing, and sit in nobody's frame.
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
REFERRER_POLICY = "same-origin"


def baseline(request: Request, response: HTTPResponse) -> None:
    """nosniff, a Referrer-Policy and a CSP on `response`, keeping whatever its route chose for itself: an admin
    HTML page (error pages included) gets the admin's CSP, everything else the strict one above."""
    headers = response.headers
    if "content-security-policy" not in headers:
        page = (response.content_type or "").startswith("text/html")
        if page and request.path.startswith("/admin"):
            security_headers(response)
        else:
            headers["Content-Security-Policy"] = STRICT_CSP
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", REFERRER_POLICY)


def setup(app: Sanic) -> None:
    @app.on_response(priority=-100)  # after every other response middleware, so it sees what they set
    async def _security_headers(request: Request, response: HTTPResponse) -> None:
        baseline(request, response)
