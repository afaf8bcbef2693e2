"""Comparing a secret with what a request sent, in constant time, whatever characters the request put in it."""

from __future__ import annotations

import hmac


def equal(expected: str, given: str) -> bool:
    """hmac.compare_digest on the UTF-8 bytes of both. compare_digest itself raises TypeError on a str with
    non-ASCII characters, and a header, form field or query value is whatever the sender chose: compared as str,
    odd bytes in a signature or a CSRF token became a 500 instead of a refusal."""
    return hmac.compare_digest(expected.encode("utf-8", "replace"), given.encode("utf-8", "replace"))
