"""Verification codes: made unguessable, printed readably, and forgiven when typed back."""

from __future__ import annotations

import secrets

from coachbox.core.config import Settings

# Crockford's base32 without I, L, O, U: nothing a learner or an employer can misread when typing it.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_code() -> str:
    """K7QM-3XPA: 40 random bits, unguessable enough for a public verify page, short enough to read aloud."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_code(text: str) -> str:
    """What a person typed → the stored form: case, spaces, dashes and O/I/L look-alikes forgiven."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    raw = raw.translate(str.maketrans("OIL", "011"))
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 8 else raw


def verify_url(settings: Settings, code: str) -> str:
    return f"{settings.server.public_url.rstrip('/')}/verify/{code}"
