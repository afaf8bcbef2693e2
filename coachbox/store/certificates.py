"""Queries for the certificates table: issue, look up, list for the admin page, revoke."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CertificateRow:
    id: int
    code: str
    learner_id: int | None
    course_id: int
    learner_name: str
    score: int
    language: str
    path: str | None  # relative to data/
    issued_at: str
    revoked_at: str | None
    course_title: str = ""
    revoke_reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.revoked_at is None


_SELECT = """SELECT c.id, c.code, c.learner_id, c.course_id, c.learner_name, c.score, c.language, c.path,
                    c.issued_at, c.revoked_at, co.title AS course_title, c.revoke_reason
             FROM certificates c JOIN courses co ON co.id = c.course_id"""


def _row(row: sqlite3.Row) -> CertificateRow:
    return CertificateRow(**dict(row))


def _row_or_none(row: sqlite3.Row | None) -> CertificateRow | None:
    return _row(row) if row is not None else None


def by_code(conn: sqlite3.Connection, code: str) -> CertificateRow | None:
    return _row_or_none(conn.execute(f"{_SELECT} WHERE c.code = ?", (code,)).fetchone())


def by_id(conn: sqlite3.Connection, certificate_id: int) -> CertificateRow | None:
    return _row_or_none(conn.execute(f"{_SELECT} WHERE c.id = ?", (certificate_id,)).fetchone())


def for_learner(conn: sqlite3.Connection, learner_id: int, course_id: int | None = None) -> list[CertificateRow]:
    """A learner's certificates, newest first (one course's only when course_id is given)."""
    sql, args = f"{_SELECT} WHERE c.learner_id = ?", [learner_id]
    if course_id is not None:
        sql += " AND c.course_id = ?"
        args.append(course_id)
    return [_row(r) for r in conn.execute(sql + " ORDER BY c.issued_at DESC, c.id DESC", args)]


def insert(
    conn: sqlite3.Connection,
    *,
    code: str,
    learner_id: int,
    course_id: int,
    learner_name: str,
    score: int,
    language: str,
    path: str,
    issued_at: datetime,
) -> int | None:
    """Insert one certificate; None when this learner already has one for the course (idempotent issue)."""
    cursor = conn.execute(
        """INSERT INTO certificates (code, learner_id, course_id, learner_name, score, language, path, issued_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (learner_id, course_id) DO NOTHING""",
        (code, learner_id, course_id, learner_name, score, language, path, issued_at.isoformat()),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def set_path(conn: sqlite3.Connection, certificate_id: int, path: str) -> None:
    conn.execute("UPDATE certificates SET path = ? WHERE id = ?", (path, certificate_id))


def list_certificates(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    course_id: int | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
    scope: tuple[str, list] = ("1", []),
) -> list[CertificateRow]:
    """For the admin page: newest first; status 'valid' or 'revoked'; search matches name or code; only learners
    inside `scope` (admin.scope's .sql("c.learner_id"))."""
    where: list[str] = [f"({scope[0]})"]
    args: list[str | int] = [*scope[1]]
    if status == "valid":
        where.append("c.revoked_at IS NULL")
    elif status == "revoked":
        where.append("c.revoked_at IS NOT NULL")
    if course_id is not None:
        where.append("c.course_id = ?")
        args.append(course_id)
    if search:
        where.append("(c.learner_name LIKE ? ESCAPE '\\' OR c.code LIKE ? ESCAPE '\\')")
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args += [pattern, pattern]
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY c.issued_at DESC, c.id DESC LIMIT ? OFFSET ?"
    return [_row(r) for r in conn.execute(sql, [*args, limit, offset])]


def count_certificates(conn: sqlite3.Connection, scope: tuple[str, list] = ("1", [])) -> dict[str, int]:
    valid, revoked = conn.execute(
        "SELECT COUNT(*) FILTER (WHERE revoked_at IS NULL), COUNT(*) FILTER (WHERE revoked_at IS NOT NULL) "
        f"FROM certificates c WHERE ({scope[0]})",
        scope[1],
    ).fetchone()
    return {"valid": valid, "revoked": revoked}


def revoke_certificate(
    conn: sqlite3.Connection,
    code: str,
    *,
    now: datetime,
    admin_id: int | None = None,
    reason: str = "",
    scope: tuple[str, list] = ("1", []),
) -> bool:
    """Revoke by code (call inside a transaction); False when unknown, already revoked or of a learner outside
    `scope` (admin.scope's .sql("certificates.learner_id")). Audited."""
    cursor = conn.execute(
        "UPDATE certificates SET revoked_at = ?, revoked_by = ?, revoke_reason = ? "
        f"WHERE code = ? AND revoked_at IS NULL AND ({scope[0]})",
        (now.isoformat(), admin_id, reason or None, code, *scope[1]),
    )
    if cursor.rowcount != 1:
        return False
    conn.execute(
        "INSERT INTO audit_log (admin_id, action, target, detail, created_at) VALUES (?, 'certificate.revoke', ?, ?, ?)",
        (admin_id, f"certificate:{code}", json.dumps({"reason": reason}), now.isoformat()),
    )
    return True
