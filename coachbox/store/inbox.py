"""Queries for the teacher's inbox: handovers with their learner's details, its figures and its notifications."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

# What an inbox row shows of the learner beside the handover (store.handover owns the handover tables).
_ROW = """SELECT h.id, h.learner_id, h.status, h.reason, h.detail, h.opened_at, h.waiting_since, h.assigned_to,
                 h.first_reply_at, h.closed_at, h.closed_by, h.tutor_exchange_id, h.payment_id, h.updated_at,
                 h.bot_paused, h.lessons_paused,
                 COALESCE(learners.name, learners.profile_name) AS learner_name, learners.phone, learners.language,
                 learners.cohort, learners.timezone, learners.last_inbound_at, learners.channel,
                 learners.channel_key, learners.opted_out, learners.status AS learner_status,
                 a.email AS assigned_email
          FROM handovers h JOIN learners ON learners.id = h.learner_id
          LEFT JOIN admins a ON a.id = h.assigned_to"""

FILTERS = ("all", "mine", "unassigned")


def rows(
    conn: sqlite3.Connection,
    *,
    status: str,
    scope_sql: str,
    scope_params: list | tuple,
    show: str = "all",
    admin_id: int | None = None,
    limit: int = 200,
) -> list[sqlite3.Row]:
    """Open (or closed) handovers among the learners `scope_sql` allows (a fragment on `learners.id`, from
    admin.scope); `show` "mine" (assigned to `admin_id`) or "unassigned" narrows them. Open ones: those waiting
    first, the longest wait first, then the answered ones, the latest activity first. Closed: newest closed first."""
    where, params = [f"({scope_sql})", "h.status = ?"], [*scope_params, status]
    if show == "mine":
        where.append("h.assigned_to = ?")
        params.append(admin_id)
    elif show == "unassigned":
        where.append("h.assigned_to IS NULL")
    order = (
        "h.waiting_since IS NULL, h.waiting_since, h.updated_at DESC, h.id DESC"
        if status == "open"
        else "h.closed_at DESC, h.id DESC"
    )
    return conn.execute(f"{_ROW} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?", (*params, limit)).fetchall()


def item(conn: sqlite3.Connection, handover_id: int, scope_sql: str, scope_params: list | tuple) -> sqlite3.Row | None:
    """One handover with its learner's details, None when it does not exist or its learner is out of scope."""
    return conn.execute(f"{_ROW} WHERE h.id = ? AND ({scope_sql})", (handover_id, *scope_params)).fetchone()


def version(conn: sqlite3.Connection, scope_sql: str, scope_params: list | tuple) -> tuple[int, str]:
    """(open handovers, a stamp that moves when one opens, closes, is answered or the learner writes again), among
    the learners in scope: what the inbox's live stream compares. Open ones only (handovers_status), so a box with
    years of closed conversations pays nothing for them."""
    row = conn.execute(
        f"""SELECT COUNT(*), COALESCE(MAX(h.updated_at), '') || ':' || COALESCE(MAX(h.id), 0)
            FROM handovers h JOIN learners ON learners.id = h.learner_id WHERE h.status = 'open' AND ({scope_sql})""",
        tuple(scope_params),
    ).fetchone()
    return int(row[0]), str(row[1])


def colleagues(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Admins who can answer an inbox item (editors and owners, not disabled), by e-mail."""
    return conn.execute(
        "SELECT id, email, role FROM admins WHERE role IN ('editor', 'owner') AND NOT disabled ORDER BY email"
    ).fetchall()


def admin_emails(conn: sqlite3.Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    found = conn.execute(f"SELECT id, email FROM admins WHERE id IN ({marks})", ids).fetchall()
    return {r["id"]: r["email"] for r in found}


# -- figures (the dashboard) ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    replied: int  # handovers opened in the period that a teacher answered
    median_minutes: float | None  # their median time from opening to the first human reply
    open_total: int
    by_teacher: list[tuple[str, int]]  # (teacher's e-mail or "Unassigned", open items)
    by_class: list[tuple[str, int]]  # (class or "No class", open items)


def figures(
    conn: sqlite3.Connection, now: datetime, scope_sql: str, scope_params: list | tuple, *, days: int = 7
) -> Figures:
    """Time to first human reply (median over the handovers opened in the last `days` days and answered) and the
    open items per teacher and per class, among the learners in scope."""
    since = (now - timedelta(days=days)).isoformat()
    waits = sorted(
        (datetime.fromisoformat(r[1]) - datetime.fromisoformat(r[0])).total_seconds() / 60
        for r in conn.execute(
            f"""SELECT h.opened_at, h.first_reply_at FROM handovers h JOIN learners ON learners.id = h.learner_id
                WHERE h.opened_at >= ? AND h.first_reply_at IS NOT NULL AND ({scope_sql})""",
            (since, *scope_params),
        )
    )
    median = None
    if waits:
        middle = len(waits) // 2
        median = waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2
    by_teacher = [
        (r[0] or "Unassigned", r[1])
        for r in conn.execute(
            f"""SELECT a.email, COUNT(*) FROM handovers h JOIN learners ON learners.id = h.learner_id
                LEFT JOIN admins a ON a.id = h.assigned_to
                WHERE h.status = 'open' AND ({scope_sql}) GROUP BY a.email ORDER BY COUNT(*) DESC, a.email""",
            tuple(scope_params),
        )
    ]
    by_class = [
        (r[0] or "No class", r[1])
        for r in conn.execute(
            f"""SELECT NULLIF(learners.cohort, ''), COUNT(*) FROM handovers h JOIN learners ON learners.id = h.learner_id
                WHERE h.status = 'open' AND ({scope_sql})
                GROUP BY NULLIF(learners.cohort, '') ORDER BY COUNT(*) DESC, 1""",
            tuple(scope_params),
        )
    ]
    return Figures(len(waits), median, sum(n for _, n in by_teacher), by_teacher, by_class)


# -- notifications ----------------------------------------------------------------------------------------------------
def unnotified(conn: sqlite3.Connection, *, limit: int = 200) -> list[sqlite3.Row]:
    """Open handovers nobody was told about yet, oldest first, with their learner's name and class and the
    assigned teacher's e-mail."""
    return conn.execute(
        f"""{_ROW} WHERE h.status = 'open'
               AND NOT EXISTS (SELECT 1 FROM inbox_notifications n WHERE n.handover_id = h.id)
            ORDER BY h.opened_at, h.id LIMIT ?""",
        (limit,),
    ).fetchall()


def mark_notified(conn: sqlite3.Connection, handover_ids: list[int], now: datetime, via: str) -> int:
    """Record that these handovers were notified (once each: a second call changes nothing); returns how many new."""
    count = 0
    for handover_id in handover_ids:
        cursor = conn.execute(
            "INSERT INTO inbox_notifications (handover_id, notified_at, via) VALUES (?, ?, ?) "
            "ON CONFLICT (handover_id) DO NOTHING",
            (handover_id, now.isoformat(), via),
        )
        count += cursor.rowcount
    return count


def last_notified_at(conn: sqlite3.Connection) -> str | None:
    """When the last notice went (any conversation): the gap between two rounds starts there."""
    row = conn.execute("SELECT MAX(notified_at) FROM inbox_notifications WHERE via != ''").fetchone()
    return row[0] if row else None
