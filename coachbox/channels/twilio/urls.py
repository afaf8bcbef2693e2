"""Twilio URLs: point every Twilio domain at [twilio] api_base_url (kept free of HTTP-client imports)."""

from __future__ import annotations

import re

DEFAULT_API_BASE = "https://api.twilio.com"
_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com(?=/|$)", re.IGNORECASE)


def rewrite_url(url: str, api_base_url: str) -> str:
    """Point every Twilio domain (api., content., …) at api_base_url when it is not Twilio's own."""
    base = api_base_url.rstrip("/")
    if not base or base == DEFAULT_API_BASE:
        return url
    return _TWILIO_HOST.sub(base, url, count=1)
