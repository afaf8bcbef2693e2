"""Queries for classes: which classes a learner is in, which an admin or API token is limited to, renames.

learners.cohort is the learner's main class and one of their classes; migration 0021's triggers keep the two in
step (a new cohort joins its class, a changed one replaces the old main class, leaving the main class picks
another), so code that writes learners.cohort needs nothing from here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

NAME_LIMIT = 80  # the same as a cohort's (learner page, CSV enrolment)

# A scope's WHERE fragment and its parameters (coachbox.admin.scope.LearnerScope.sql()): "1" is everyone.
Scope = tuple[str, list]
EVERYONE: Scope = ("1", [])


def clean_name(value: str) -> str:
    """A class name as typed, with its spaces tidied ('' when nothing is left)."""
    return " ".join(value.split())[:NAME_LIMIT]


# -- what a signed-in admin or an API token may see ------------------------------------------------


def for_admin(conn: sqlite3.Connection, admin_id: int) -> tuple[str, ...]:
    """The classes an admin is limited to (none: not limited by class)."""
    return tuple(
        r[0]
        for r in conn.execute(
            "SELECT class_name FROM admin_classes WHERE admin_id = ? ORDER BY class_name", (admin_id,)
        )
    )


def for_token(conn: sqlite3.Connection, token_id: int) -> tuple[str, ...]:
    """The classes an API token is limited to (none: not limited by class)."""
    return tuple(
        r[0]
        for r in conn.execute(
            "SELECT class_name FROM api_token_classes WHERE token_id = ? ORDER BY class_name", (token_id,)
        )
    )


def _known(conn: sqlite3.Connection, names: Iterable[str]) -> list[str]:
    wanted = sorted({clean_name(n) for n in names} - {""})
    return [n for n in wanted if conn.execute("SELECT 1 FROM classes WHERE name = ?", (n,)).fetchone()]


def set_for_admin(conn: sqlite3.Connection, admin_id: int, names: Iterable[str]) -> list[str]:
    """Limit an admin to these classes (unknown names are dropped; none: no limit). Returns the classes kept."""
    kept = _known(conn, names)
    conn.execute("DELETE FROM admin_classes WHERE admin_id = ?", (admin_id,))
    conn.executemany("INSERT INTO admin_classes (admin_id, class_name) VALUES (?, ?)", [(admin_id, n) for n in kept])
    return kept


def set_for_token(conn: sqlite3.Connection, token_id: int, names: Iterable[str]) -> list[str]:
    """Limit an API token to these classes (unknown names are dropped; none: no limit). Returns the classes kept."""
    kept = _known(conn, names)
    conn.execute("DELETE FROM api_token_classes WHERE token_id = ?", (token_id,))
    conn.executemany(
        "INSERT INTO api_token_classes (token_id, class_name) VALUES (?, ?)", [(token_id, n) for n in kept]
    )
    return kept


def api_token_row(conn: sqlite3.Connection, token_id: int) -> sqlite3.Row | None:
    """An API token's name and role (revoked ones too: their classes can still be read)."""
    return conn.execute("SELECT id, name, role FROM api_tokens WHERE id = ?", (token_id,)).fetchone()


def admins_classes(conn: sqlite3.Connection) -> dict[int, list[str]]:
    """Every limited admin's classes, for the Users page."""
    out: dict[int, list[str]] = {}
    for admin_id, name in conn.execute("SELECT admin_id, class_name FROM admin_classes ORDER BY class_name"):
        out.setdefault(admin_id, []).append(name)
    return out


def tokens_classes(conn: sqlite3.Connection) -> dict[int, list[str]]:
    """Every limited API token's classes, for the API tokens page."""
    out: dict[int, list[str]] = {}
    for token_id, name in conn.execute("SELECT token_id, class_name FROM api_token_classes ORDER BY class_name"):
        out.setdefault(token_id, []).append(name)
    return out


def in_scope(conn: sqlite3.Connection, learner_id: int, scope: Scope) -> bool:
    """Is this (not erased) learner inside the scope?"""
    where, args = scope
    return (
        conn.execute(
            f"SELECT 1 FROM learners WHERE id = ? AND status != 'deleted' AND ({where})", [learner_id, *args]
        ).fetchone()
        is not None
    )


# -- the Classes page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    name: str
    learners: int  # members, erased learners not counted
    main: int  # of whom this is the main class (learners.cohort)
    teachers: tuple[str, ...]  # emails of the admins limited to it


def names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM classes ORDER BY name")]


def list_classes(conn: sqlite3.Connection, only: tuple[str, ...] | None = None) -> list[ClassRow]:
    """Every class (or only these) with its learner counts and teachers, by name."""
    # Erased learners are few: counting "not among them" stays on covering indexes (learner_classes_class,
    # learners_cohort, learners_status) instead of reading 100,000 learners rows (104 ms against 1.5 s there).
    rows = conn.execute(
        """SELECT c.name,
                  (SELECT COUNT(*) FROM learner_classes lc WHERE lc.class_name = c.name
                      AND lc.learner_id NOT IN (SELECT id FROM learners WHERE status = 'deleted')) AS learners,
                  (SELECT COUNT(*) FROM learners l WHERE l.cohort = c.name
                      AND l.id NOT IN (SELECT id FROM learners WHERE status = 'deleted')) AS main,
                  (SELECT group_concat(email, char(10)) FROM (
                      SELECT a.email FROM admin_classes ac JOIN admins a ON a.id = ac.admin_id
                      WHERE ac.class_name = c.name AND a.disabled = 0 ORDER BY a.email)) AS teachers
           FROM classes c WHERE ? IS NULL OR c.name IN (SELECT value FROM json_each(?)) ORDER BY c.name""",
        (None if only is None else 1, json.dumps(list(only or ()))),
    ).fetchall()
    return [
        ClassRow(r["name"], r["learners"], r["main"], tuple((r["teachers"] or "").split("\n")) if r["teachers"] else ())
        for r in rows
    ]


def create(conn: sqlite3.Connection, name: str, now: datetime) -> bool:
    """A new, empty class; False when one of that name exists."""
    return (
        conn.execute("INSERT OR IGNORE INTO classes (name, created_at) VALUES (?, ?)", (name, now.isoformat())).rowcount
        == 1
    )


def rename(conn: sqlite3.Connection, old: str, new: str, now: datetime) -> str | None:
    """Rename a class everywhere (members, teachers, tokens, main classes, broadcasts not yet sent); call inside a
    transaction. None when done, else why not, in words."""
    if conn.execute("SELECT 1 FROM classes WHERE name = ?", (old,)).fetchone() is None:
        return "no such class"
    if old == new:
        return None
    if conn.execute("SELECT 1 FROM classes WHERE name = ?", (new,)).fetchone() is not None:
        return f"a class named {new} exists already"
    # ON UPDATE CASCADE carries learner_classes, admin_classes and api_token_classes along.
    conn.execute("UPDATE classes SET name = ? WHERE name = ?", (new, old))
    # Then the main classes (the trigger finds the membership renamed already).
    conn.execute("UPDATE learners SET cohort = ?, updated_at = ? WHERE cohort = ?", (new, now.isoformat(), old))
    conn.execute(
        "UPDATE broadcasts SET audience = ? WHERE audience = ? AND status = 'scheduled'",
        (f"cohort:{new}", f"cohort:{old}"),
    )
    return None


def delete_empty(conn: sqlite3.Connection, name: str) -> bool:
    """Remove a class nobody is in (its teachers and tokens lose it); False when it has learners or is unknown."""
    if conn.execute(
        """SELECT 1 FROM learner_classes lc JOIN learners l ON l.id = lc.learner_id
           WHERE lc.class_name = ? AND l.status != 'deleted' LIMIT 1""",
        (name,),
    ).fetchone():
        return False
    return conn.execute("DELETE FROM classes WHERE name = ?", (name,)).rowcount == 1


# -- one learner's classes -------------------------------------------------------------------------


def of_learner(conn: sqlite3.Connection, learner_id: int) -> list[str]:
    """The learner's classes, their main class (learners.cohort) first."""
    return [
        r[0]
        for r in conn.execute(
            """SELECT lc.class_name FROM learner_classes lc JOIN learners l ON l.id = lc.learner_id
               WHERE lc.learner_id = ? ORDER BY lc.class_name IS NOT l.cohort, lc.class_name""",
            (learner_id,),
        )
    ]


def add_learner(conn: sqlite3.Connection, learner_id: int, name: str, now: datetime) -> bool:
    """Put a learner in a class (made when new); the first class becomes their main one. False when already in."""
    conn.execute("INSERT OR IGNORE INTO classes (name, created_at) VALUES (?, ?)", (name, now.isoformat()))
    return (
        conn.execute(
            "INSERT OR IGNORE INTO learner_classes (learner_id, class_name, added_at) VALUES (?, ?, ?)",
            (learner_id, name, now.isoformat()),
        ).rowcount
        == 1
    )


def remove_learner(conn: sqlite3.Connection, learner_id: int, name: str) -> bool:
    """Take a learner out of a class; leaving the main class makes another of theirs the main one."""
    return (
        conn.execute("DELETE FROM learner_classes WHERE learner_id = ? AND class_name = ?", (learner_id, name)).rowcount
        == 1
    )
