"""Queries for admins, their sessions, the audit log and API tokens."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from datetime import datetime, timedelta

from coachbox.store import inserted_id, transaction

SESSION_DAYS = 14
# Writing last_seen_at on every request would make every page view a write; once a few minutes is enough.
TOUCH_EVERY = timedelta(minutes=5)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_session(
    conn: sqlite3.Connection,
    admin_id: int,
    now: datetime,
    *,
    ip: str = "",
    user_agent: str = "",
    replaces: str | None = None,
) -> tuple[str, str]:
    """A new session (id, csrf token) for this admin; `replaces` is the old cookie id, dropped (no fixation)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with transaction(conn):
        if replaces:
            conn.execute("DELETE FROM admin_sessions WHERE id_hash = ?", (_sha256(replaces),))
        conn.execute("DELETE FROM admin_sessions WHERE expires_at < ?", (now.isoformat(),))
        conn.execute(
            """INSERT INTO admin_sessions (id_hash, admin_id, csrf_token, created_at, last_seen_at, expires_at, ip,
                                           user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                _sha256(session_id),
                admin_id,
                csrf,
                now.isoformat(),
                now.isoformat(),
                (now + timedelta(days=SESSION_DAYS)).isoformat(),
                ip[:64],
                user_agent[:200],
            ),
        )
        conn.execute("UPDATE admins SET last_login_at = ? WHERE id = ?", (now.isoformat(), admin_id))
    return session_id, csrf


def load_session(conn: sqlite3.Connection, session_id: str, now: datetime) -> sqlite3.Row | None:
    """The session joined with its admin, or None when unknown, expired or the admin is disabled."""
    row = conn.execute(
        """SELECT s.id_hash, s.csrf_token, s.last_seen_at, s.expires_at, a.id AS admin_id, a.email, a.role
           FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
           WHERE s.id_hash = ? AND a.disabled = 0""",
        (_sha256(session_id),),
    ).fetchone()
    if row is None or row["expires_at"] < now.isoformat():
        return None
    if datetime.fromisoformat(row["last_seen_at"]) + TOUCH_EVERY < now:
        conn.execute("UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ?", (now.isoformat(), row["id_hash"]))
    return row


def delete_session(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute("DELETE FROM admin_sessions WHERE id_hash = ?", (_sha256(session_id),))


def delete_admin_sessions(conn: sqlite3.Connection, admin_id: int, *, keep: str | None = None) -> None:
    """Sign an admin out everywhere (password change, disable), except the session `keep`."""
    conn.execute(
        "DELETE FROM admin_sessions WHERE admin_id = ? AND id_hash != ?", (admin_id, _sha256(keep) if keep else "")
    )


def audit(
    conn: sqlite3.Connection, admin_id: int | None, action: str, target: str | None, now: datetime, **detail: object
) -> None:
    """One audit_log row: who changed what (call inside the change's transaction when there is one)."""
    conn.execute(
        "INSERT INTO audit_log (admin_id, action, target, detail, created_at) VALUES (?, ?, ?, ?, ?)",
        (admin_id, action, target, json.dumps(detail, ensure_ascii=False, default=str), now.isoformat()),
    )


def audit_page(
    conn: sqlite3.Connection,
    *,
    limit: int = 50,
    before_id: int | None = None,
    person: int | None = None,
    system: bool = False,
    action: str = "",
) -> list[sqlite3.Row]:
    """Audit rows newest first, filtered by who (`person` an admin id, or `system` for rows no admin made) and by
    action (an exact code, or an area such as "learner." for all of its codes); `limit` + 1 rows tell "older"."""
    return conn.execute(
        """SELECT l.*, a.email FROM audit_log l LEFT JOIN admins a ON a.id = l.admin_id
           WHERE (:before IS NULL OR l.id < :before) AND (:person IS NULL OR l.admin_id = :person)
             AND (:system = 0 OR l.admin_id IS NULL)
             AND (:action = '' OR (:area = 1 AND substr(l.action, 1, length(:action)) = :action)
                  OR (:area = 0 AND l.action = :action))
           ORDER BY l.id DESC LIMIT :limit""",
        {
            "before": before_id,
            "person": person,
            "system": int(system),
            "action": action,
            "area": int(action.endswith(".")),
            "limit": limit + 1,
        },
    ).fetchall()


def audit_choices(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], list[str]]:
    """Who appears in the audit log (id, email; a disabled or removed admin too) and which action codes."""
    people = conn.execute(
        """SELECT DISTINCT a.id, a.email FROM audit_log l JOIN admins a ON a.id = l.admin_id ORDER BY a.email"""
    ).fetchall()
    actions = [r[0] for r in conn.execute("SELECT DISTINCT action FROM audit_log ORDER BY action")]
    return people, actions


# -- admins ---------------------------------------------------------------------------------------


def list_admins(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    # classes: those the admin is limited to (migration 0021), one per line; NULL when not limited.
    return conn.execute(
        "SELECT id, email, role, created_at, last_login_at, disabled, password_hash IS NOT NULL AS has_password, "
        "(SELECT group_concat(class_name, char(10)) FROM admin_classes WHERE admin_id = admins.id) AS classes "
        "FROM admins ORDER BY email"
    ).fetchall()


def admin_by_email(conn: sqlite3.Connection, email: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM admins WHERE email = ?", (email.strip(),)).fetchone()


def admin_by_id(conn: sqlite3.Connection, admin_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM admins WHERE id = ?", (admin_id,)).fetchone()


def replace_password_hash(conn: sqlite3.Connection, admin_id: int, old_hash: str, new_hash: str) -> bool:
    """Compare-and-set (a rehash at sign-in must not undo a password changed meanwhile): True when replaced."""
    cursor = conn.execute(
        "UPDATE admins SET password_hash = ? WHERE id = ? AND password_hash = ?", (new_hash, admin_id, old_hash)
    )
    return cursor.rowcount == 1


def owner_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM admins WHERE role = 'owner' AND disabled = 0").fetchone()[0]


# -- API tokens -----------------------------------------------------------------------------------

TOKEN_PREFIX = "cbx_"


def create_api_token(conn: sqlite3.Connection, name: str, role: str, now: datetime) -> tuple[int, str]:
    """A new bearer token; only its hash is kept, so the plain token is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cursor = conn.execute(
        "INSERT INTO api_tokens (name, token_hash, role, created_at) VALUES (?, ?, ?, ?)",
        (name, _sha256(token), role, now.isoformat()),
    )
    return inserted_id(cursor), token


def api_token(conn: sqlite3.Connection, token: str, now: datetime) -> sqlite3.Row | None:
    """The live token row for a bearer value (touched at most once a minute), or None."""
    row = conn.execute(
        "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (_sha256(token),)
    ).fetchone()
    if row is not None and (row["last_used_at"] or "") < (now - timedelta(minutes=1)).isoformat():
        conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now.isoformat(), row["id"]))
    return row


def list_api_tokens(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    # classes: those the token is limited to (migration 0021), one per line; NULL when not limited.
    return conn.execute(
        "SELECT id, name, role, created_at, last_used_at, revoked_at, "
        "(SELECT group_concat(class_name, char(10)) FROM api_token_classes WHERE token_id = api_tokens.id) AS classes "
        "FROM api_tokens ORDER BY id DESC"
    ).fetchall()


def revoke_api_token(conn: sqlite3.Connection, token_id: int, now: datetime) -> bool:
    cursor = conn.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now.isoformat(), token_id)
    )
    return cursor.rowcount == 1
