"""The box's own secrets kept in the database: the signing key for /media links and the first-run owner link."""

from __future__ import annotations

import secrets
import sqlite3

from coachbox import store
from coachbox.core.config import Settings


def ensure_secret_key(conn: sqlite3.Connection, settings: Settings) -> str:
    """[server] secret_key, or one generated once and kept in the database (so it survives restarts)."""
    if settings.server.secret_key:
        return settings.server.secret_key
    row = conn.execute("SELECT value FROM box_state WHERE key = 'secret_key'").fetchone()
    if row:
        return row[0]
    key = secrets.token_urlsafe(48)
    conn.execute(
        "INSERT OR IGNORE INTO box_state (key, value, updated_at) VALUES ('secret_key', ?, ?)",
        (key, store.utcnow_iso()),
    )
    return conn.execute("SELECT value FROM box_state WHERE key = 'secret_key'").fetchone()[0]


def setup_link(conn: sqlite3.Connection, settings: Settings) -> str | None:
    """The one-time link that creates the first owner; None once an admin exists."""
    if conn.execute("SELECT 1 FROM admins LIMIT 1").fetchone():
        conn.execute("DELETE FROM box_state WHERE key = 'setup_token'")
        return None
    row = conn.execute("SELECT value FROM box_state WHERE key = 'setup_token'").fetchone()
    token = row[0] if row else secrets.token_urlsafe(24)
    if not row:
        conn.execute(
            "INSERT INTO box_state (key, value, updated_at) VALUES ('setup_token', ?, ?)", (token, store.utcnow_iso())
        )
    return f"{settings.server.public_url.rstrip('/')}/admin/setup?token={token}"
