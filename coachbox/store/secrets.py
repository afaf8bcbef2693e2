"""The box's own secrets kept in the database: the first-run owner link (the signing key: store/secret_key.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from coachbox.core.config import Settings

SETUP_KEY = "setup_token"
SETUP_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class SetupLink:
    """The first-run link: `url` only when it was made just now (only its hash is kept, so never again)."""

    url: str | None
    expires_at: datetime


def _setup_row(conn: sqlite3.Connection) -> dict | None:
    """The stored {"sha256", "expires_at"}; None when there is none or it is an old plain-text token (replaced)."""
    row = conn.execute("SELECT value FROM box_state WHERE key = ?", (SETUP_KEY,)).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0])
        return {"sha256": str(value["sha256"]), "expires_at": datetime.fromisoformat(value["expires_at"])}
    except (ValueError, TypeError, KeyError):
        return None


def setup_link(conn: sqlite3.Connection, settings: Settings, now: datetime, *, renew: bool = False) -> SetupLink | None:
    """The one-time link that creates the first owner; None once an admin exists.

    A new link (url set) when there is none yet, or `renew` (`coachbox admin reset`): the old one stops working.
    Otherwise the live or expired link's expiry, with url None: only its SHA-256 is stored, so it cannot be shown.
    """
    if conn.execute("SELECT 1 FROM admins LIMIT 1").fetchone():
        conn.execute("DELETE FROM box_state WHERE key = ?", (SETUP_KEY,))
        return None
    current = _setup_row(conn)
    if current is not None and not renew:
        return SetupLink(None, current["expires_at"])
    token = secrets.token_urlsafe(24)
    expires_at = now + SETUP_TTL
    value = json.dumps({"sha256": _sha256(token), "expires_at": expires_at.isoformat()})
    conn.execute(
        "INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (SETUP_KEY, value, now.isoformat()),
    )
    return SetupLink(f"{settings.server.public_url.rstrip('/')}/admin/setup?token={token}", expires_at)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup_token_state(conn: sqlite3.Connection, token: str, now: datetime) -> Literal["valid", "expired", "unknown"]:
    """Whether this is the live first-run token ("expired": right token, too late; "unknown": wrong or spent)."""
    current = _setup_row(conn)
    if not token or current is None or not hmac.compare_digest(current["sha256"], _sha256(token)):
        return "unknown"
    return "valid" if now < current["expires_at"] else "expired"


def spend_setup_token(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM box_state WHERE key = ?", (SETUP_KEY,))


def describe_setup_link(link: SetupLink, settings: Settings, now: datetime) -> str:
    """What `coachbox init/run` and `coachbox admin reset` print about the first-run link."""
    zone = ZoneInfo(settings.org.default_timezone)
    until = link.expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") + f" ({settings.org.default_timezone})"
    if link.url:
        return (
            f"\n  First run: create the owner account at\n    {link.url}\n"
            f"  The link works once, until {until}. `coachbox admin reset` makes a new one.\n"
        )
    if now >= link.expires_at:
        return (
            f"\n  No owner account yet, and the first-run link expired at {until}.\n"
            "  Run `coachbox admin reset` for a new one.\n"
        )
    return (
        f"\n  No owner account yet: the first-run link printed earlier works until {until}.\n"
        "  Lost it? `coachbox admin reset` makes a new one (the old one stops working).\n"
    )
