"""Admin accounts: create the first owner, add or reset admins with one-time links, check passwords."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from datetime import datetime, timedelta

from coachbox import store
from coachbox.admin.passwords import hash_password, verify_password
from coachbox.core.clock import clock_from_environment
from coachbox.core.config import Settings
from coachbox.core.errors import UserError
from coachbox.store import transaction

ROLES = ("owner", "editor", "viewer")
TOKEN_TTL = timedelta(hours=72)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    """The box's time, as the server that checks the link's expiry reads it (a test clock in tests)."""
    return clock_from_environment(os.environ).now()


def add_admin(conn: sqlite3.Connection, email: str, role: str, now: datetime) -> int:
    """A new admin with no password yet (they choose one through a one-time link)."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise UserError(f"{email!r} is not an email address (expected something like name@school.org).")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}.")
    try:
        cursor = conn.execute(
            "INSERT INTO admins (email, role, created_at) VALUES (?, ?, ?)", (email, role, now.isoformat())
        )
    except sqlite3.IntegrityError:
        raise UserError(
            f"an admin {email} already exists. Use `coachbox admin reset {email}` for a new link."
        ) from None
    return store.inserted_id(cursor)


def issue_token(conn: sqlite3.Connection, admin_id: int, now: datetime, *, purpose: str = "reset") -> str:
    """A one-time token for this admin; earlier unused ones stop working (only the newest link counts)."""
    token = secrets.token_urlsafe(24)
    with transaction(conn):
        conn.execute(
            "UPDATE admin_tokens SET used_at = ? WHERE admin_id = ? AND used_at IS NULL", (now.isoformat(), admin_id)
        )
        conn.execute(
            "INSERT INTO admin_tokens (admin_id, token_hash, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (admin_id, _sha256(token), purpose, now.isoformat(), (now + TOKEN_TTL).isoformat()),
        )
    return token


def token_admin(conn: sqlite3.Connection, token: str, now: datetime) -> sqlite3.Row | None:
    """The admin a live token belongs to (to show the 'choose a password' form), or None."""
    return conn.execute(
        """SELECT a.id, a.email, a.role, t.purpose FROM admin_tokens t JOIN admins a ON a.id = t.admin_id
           WHERE t.token_hash = ? AND t.used_at IS NULL AND t.expires_at > ? AND a.disabled = 0""",
        (_sha256(token), now.isoformat()),
    ).fetchone()


def use_token(conn: sqlite3.Connection, token: str, password: str, now: datetime) -> int | None:
    """Set the password and spend the token (compare-and-set: a token works exactly once); the admin id or None."""
    new_hash = hash_password(password)  # slow on purpose: outside the write lock
    with transaction(conn):
        row = token_admin(conn, token, now)
        if row is None:
            return None
        spent = conn.execute(
            "UPDATE admin_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
            (now.isoformat(), _sha256(token)),
        )
        if spent.rowcount != 1:
            return None
        conn.execute("UPDATE admins SET password_hash = ? WHERE id = ?", (new_hash, row["id"]))
    return row["id"]


def create_first_owner(
    conn: sqlite3.Connection, setup_token: str, email: str, password: str, now: datetime
) -> int | None:
    """Redeem the first-run link (appliance.setup_link): the owner's id, or None if the link is wrong or spent."""
    new_hash = hash_password(password)
    with transaction(conn):
        row = conn.execute("SELECT value FROM box_state WHERE key = 'setup_token'").fetchone()
        if row is None or not hmac.compare_digest(row[0], setup_token):
            return None
        if conn.execute("SELECT 1 FROM admins LIMIT 1").fetchone():
            return None
        admin_id = add_admin(conn, email, "owner", now)
        conn.execute("UPDATE admins SET password_hash = ? WHERE id = ?", (new_hash, admin_id))
        conn.execute("DELETE FROM box_state WHERE key = 'setup_token'")
    return admin_id


def authenticate(conn: sqlite3.Connection, email: str, password: str) -> sqlite3.Row | None:
    """The enabled admin with this email and password, or None (a hash is computed either way: no timing hint)."""
    row = conn.execute("SELECT * FROM admins WHERE email = ? AND disabled = 0", (email.strip(),)).fetchone()
    stored = row["password_hash"] if row else None
    ok = verify_password(password, stored or _DUMMY_HASH)
    return row if ok and stored else None


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


# -- the CLI -----------------------------------------------------------------------------------------


def _link(settings: Settings, token: str) -> str:
    return f"{settings.server.public_url.rstrip('/')}/admin/reset?token={token}"


def add_admin_cli(settings: Settings, email: str, role: str) -> str:
    """`coachbox admin add EMAIL --role R`: the message to print, with the one-time link."""
    conn = store.open_database(settings.db_path)
    try:
        now = _now()
        with transaction(conn):
            admin_id = add_admin(conn, email, role, now)
        token = issue_token(conn, admin_id, now, purpose="invite")
    finally:
        conn.close()
    return (
        f"Added {email.strip()} as {role}. Send them this link to choose a password "
        f"(it works once, for {int(TOKEN_TTL.total_seconds() // 3600)} hours):\n  {_link(settings, token)}"
    )


def reset_admin_cli(settings: Settings, email: str) -> str:
    """`coachbox admin reset EMAIL`: a fresh one-time link; the old password keeps working until it is used."""
    conn = store.open_database(settings.db_path)
    try:
        row = conn.execute("SELECT id FROM admins WHERE email = ?", (email.strip(),)).fetchone()
        if row is None:
            raise UserError(f"no admin {email}. `coachbox admin add {email} --role editor` creates one.")
        token = issue_token(conn, row["id"], _now(), purpose="reset")
    finally:
        conn.close()
    return (
        f"Password reset link for {email.strip()} (it works once, for "
        f"{int(TOKEN_TTL.total_seconds() // 3600)} hours):\n  {_link(settings, token)}"
    )
