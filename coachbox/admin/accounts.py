"""Admin accounts: create the first owner, add or reset admins with one-time links, check passwords."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
from datetime import datetime, timedelta

from coachbox import store
from coachbox.admin.passwords import DUMMY_HASH, hash_password, needs_rehash, password_problem, verify_password
from coachbox.core.clock import clock_from_environment
from coachbox.core.config import Settings
from coachbox.core.errors import UserError
from coachbox.store import admins, transaction
from coachbox.store import secrets as box_secrets

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


def _strong_hash(password: str, user_inputs: tuple[str, ...]) -> str:
    """The hash of a password that passes passwords.password_problem; UserError saying why otherwise."""
    problem = password_problem(password, user_inputs)
    if problem:
        raise UserError(problem)
    return hash_password(password)


def token_admin(conn: sqlite3.Connection, token: str, now: datetime) -> sqlite3.Row | None:
    """The admin a live token belongs to (to show the 'choose a password' form), or None."""
    return conn.execute(
        """SELECT a.id, a.email, a.role, t.purpose FROM admin_tokens t JOIN admins a ON a.id = t.admin_id
           WHERE t.token_hash = ? AND t.used_at IS NULL AND t.expires_at > ? AND a.disabled = 0""",
        (_sha256(token), now.isoformat()),
    ).fetchone()


def use_token(
    conn: sqlite3.Connection, token: str, password: str, now: datetime, *, new_hash: str | None = None
) -> int | None:
    """Set the password and spend the token (compare-and-set: a token works exactly once); the admin id or None.
    The web passes `new_hash`, made beforehand off the database thread (argon2 is slow on purpose) after its own
    strength check; a plain `password` is checked here (UserError when too weak)."""
    new_hash = new_hash or _strong_hash(password, ())
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
    conn: sqlite3.Connection,
    setup_token: str,
    email: str,
    password: str,
    now: datetime,
    *,
    new_hash: str | None = None,
) -> int | None:
    """Redeem the first-run link (store.secrets.setup_link): the owner's id, or None if the link is wrong, spent
    or expired. `new_hash` as in use_token."""
    new_hash = new_hash or _strong_hash(password, (email,))
    with transaction(conn):
        if box_secrets.setup_token_state(conn, setup_token, now) != "valid":
            return None
        if conn.execute("SELECT 1 FROM admins LIMIT 1").fetchone():
            return None
        admin_id = add_admin(conn, email, "owner", now)
        conn.execute("UPDATE admins SET password_hash = ? WHERE id = ?", (new_hash, admin_id))
        box_secrets.spend_setup_token(conn)
    return admin_id


def authenticate(conn: sqlite3.Connection, email: str, password: str) -> sqlite3.Row | None:
    """The enabled admin with this email and password, or None (an argon2 hash is checked either way: no timing
    hint). A right password on an old (scrypt) or outdated hash upgrades it to today's argon2id."""
    row = conn.execute("SELECT * FROM admins WHERE email = ? AND disabled = 0", (email.strip(),)).fetchone()
    stored = row["password_hash"] if row else None
    ok = verify_password(password, stored or DUMMY_HASH)
    if not (ok and stored and row is not None):
        return None
    upgrade_hash(conn, row["id"], stored, password)
    return row


def upgrade_hash(conn: sqlite3.Connection, admin_id: int, stored: str, password: str) -> bool:
    """After a successful sign-in: replace a scrypt (or outdated argon2) hash with today's argon2id. Compare-and-set
    on the old hash, so a password changed meanwhile is not overwritten. True when it was replaced."""
    if not needs_rehash(stored):
        return False
    return admins.replace_password_hash(conn, admin_id, stored, hash_password(password))


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


def reset_admin_cli(settings: Settings, email: str | None) -> str:
    """`coachbox admin reset EMAIL`: a fresh one-time link; the old password keeps working until it is used.

    `coachbox admin reset` alone, while no admin exists: a fresh first-run link (the earlier one stops working).
    Once an admin exists it refuses and names the way to reset someone's password instead.
    """
    if email is None:
        return _reset_setup_link(settings)
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


def _reset_setup_link(settings: Settings) -> str:
    conn = store.open_database(settings.db_path)
    try:
        now = _now()
        link = box_secrets.setup_link(conn, settings, now, renew=True)
        if link is None:
            emails = [r[0] for r in conn.execute("SELECT email FROM admins WHERE role = 'owner' ORDER BY id LIMIT 3")]
    finally:
        conn.close()
    if link is None:
        owners = ", ".join(emails) or "an owner"
        raise UserError(
            "this box already has admins, so there is no first-run link any more. For a password reset link run "
            f"`coachbox admin reset EMAIL` (owners: {owners}), or ask an owner for one on the Users page."
        )
    return box_secrets.describe_setup_link(link, settings, now).strip("\n")
