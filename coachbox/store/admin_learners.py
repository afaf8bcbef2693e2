"""Queries behind the admin learner pages: search with filters and paging, one learner's record, GDPR export/delete."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta

STATUSES = ("onboarding", "active", "paused", "finished")


@dataclass(frozen=True)
class LearnerFilter:
    q: str = ""
    course_id: int | None = None
    status: str = ""
    cohort: str = ""
    inactive_days: int | None = None
    page: int = 1
    per_page: int = 50


@dataclass
class LearnerPage:
    rows: list = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 50

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _where(f: LearnerFilter, now: datetime) -> tuple[str, list]:
    clauses: list[str] = ["l.status != 'deleted'"]
    args: list[str | int] = []
    q = f.q.strip()
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        if digits and len(digits) >= 3 and len(digits) >= len(q.replace("+", "").replace(" ", "")) - 1:
            # A phone number (or part of one): match anywhere in the stored E.164 number.
            # A leading 0 is the national trunk prefix ("0711…" is stored as "+254711…").
            clauses.append("l.phone LIKE ?")
            args.append(f"%{digits.lstrip('0') or digits}%")
        else:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append("(l.name LIKE ? ESCAPE '\\' OR l.profile_name LIKE ? ESCAPE '\\')")
            args += [like, like]
    if f.status == "opted_out":
        clauses.append("l.opted_out = 1")
    elif f.status in STATUSES:
        clauses.append("l.status = ?")
        args.append(f.status)
    if f.cohort:
        clauses.append("l.cohort = ?")
        args.append(f.cohort)
    if f.course_id:
        clauses.append("EXISTS (SELECT 1 FROM enrollments e WHERE e.learner_id = l.id AND e.course_id = ?)")
        args.append(f.course_id)
    if f.inactive_days:
        cutoff = (now - timedelta(days=f.inactive_days)).isoformat()
        # COALESCE keeps the planner off a multi-index OR over last_inbound_at (~100 ms at 100k learners);
        # the status/cohort indexes narrow better, and a plain scan of 100k rows is ~10 ms.
        clauses.append("COALESCE(l.last_inbound_at, '') < ?")
        args.append(cutoff)
    return " AND ".join(clauses), args


def search(conn: sqlite3.Connection, f: LearnerFilter, now: datetime) -> LearnerPage:
    where, args = _where(f, now)
    total = conn.execute(f"SELECT COUNT(*) FROM learners l WHERE {where}", args).fetchone()[0]
    rows = conn.execute(
        f"""SELECT l.id, l.name, l.profile_name, l.phone, l.channel, l.status, l.opted_out, l.cohort, l.streak,
                   l.last_inbound_at, c.title AS course_title
            FROM learners l LEFT JOIN courses c ON c.id = l.current_course_id
            WHERE {where} ORDER BY l.id DESC LIMIT ? OFFSET ?""",
        [*args, f.per_page, (max(1, f.page) - 1) * f.per_page],
    ).fetchall()
    return LearnerPage(rows=rows, total=total, page=f.page, per_page=f.per_page)


def filter_options(conn: sqlite3.Connection) -> dict:
    return {
        "courses": conn.execute("SELECT id, title, language FROM courses ORDER BY position, title").fetchall(),
        # DISTINCT over the cohort index: cheap even with 100k learners.
        "cohorts": [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT cohort FROM learners WHERE cohort IS NOT NULL AND cohort != '' ORDER BY cohort LIMIT 500"
            )
        ],
    }


def learner(conn: sqlite3.Connection, learner_id: int) -> sqlite3.Row | None:
    return conn.execute(
        """SELECT l.*, c.title AS course_title FROM learners l LEFT JOIN courses c ON c.id = l.current_course_id
           WHERE l.id = ? AND l.status != 'deleted'""",
        (learner_id,),
    ).fetchone()


def enrollments(conn: sqlite3.Connection, learner_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT e.*, c.title, c.slug,
                  (SELECT COUNT(*) FROM lessons s WHERE s.course_id = c.id AND s.published = 1) AS lessons,
                  (SELECT COUNT(*) FROM progress p JOIN lessons s ON s.id = p.lesson_id
                    WHERE p.learner_id = e.learner_id AND s.course_id = c.id AND p.completed_at IS NOT NULL) AS done
           FROM enrollments e JOIN courses c ON c.id = e.course_id WHERE e.learner_id = ? ORDER BY e.started_at""",
        (learner_id,),
    ).fetchall()


def badges(conn: sqlite3.Connection, learner_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT b.code, b.awarded_at, d.emoji, d.names FROM learner_badges b
           LEFT JOIN badge_definitions d ON d.code = b.code WHERE b.learner_id = ? ORDER BY b.awarded_at""",
        (learner_id,),
    ).fetchall()


def answers(conn: sqlite3.Connection, learner_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT a.given, a.correct, a.answered_at, q.prompt FROM answers a JOIN questions q ON q.id = a.question_id
           WHERE a.learner_id = ? ORDER BY a.answered_at DESC LIMIT ?""",
        (learner_id, limit),
    ).fetchall()


def transcript_page(
    conn: sqlite3.Connection, learner_id: int, *, before_id: int | None = None, limit: int = 100
) -> list[sqlite3.Row]:
    """The newest `limit` messages (or those before `before_id`), returned oldest first for reading."""
    rows = conn.execute(
        """SELECT id, direction, body, media, kind, status, error_code, error_message, created_at, sent_at,
                  redacted_at
           FROM messages WHERE learner_id = ? AND id < ? ORDER BY id DESC LIMIT ?""",
        (learner_id, before_id or 2**62, limit),
    ).fetchall()
    return rows[::-1]


def messages_after(conn: sqlite3.Connection, learner_id: int, after_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT id, direction, body, kind, status, created_at FROM messages WHERE learner_id = ? AND id > ? "
        "ORDER BY id LIMIT ?",
        (learner_id, after_id, limit),
    ).fetchall()


def set_status(conn: sqlite3.Connection, learner_id: int, status: str, now: datetime) -> bool:
    cursor = conn.execute(
        "UPDATE learners SET status = ?, updated_at = ? WHERE id = ? AND status != 'deleted'",
        (status, now.isoformat(), learner_id),
    )
    return cursor.rowcount == 1


def move_course(conn: sqlite3.Connection, learner_id: int, course_id: int, now: datetime) -> None:
    """Make course_id the learner's current course (enrolled from its first lesson if new)."""
    conn.execute(
        "UPDATE enrollments SET status = 'dropped' WHERE learner_id = ? AND course_id != ? AND status = 'active'",
        (learner_id, course_id),
    )
    conn.execute(
        """INSERT INTO enrollments (learner_id, course_id, status, started_at) VALUES (?, ?, 'active', ?)
           ON CONFLICT (learner_id, course_id) DO UPDATE SET status = 'active'""",
        (learner_id, course_id, now.isoformat()),
    )
    conn.execute(
        "UPDATE learners SET current_course_id = ?, updated_at = ? WHERE id = ?",
        (course_id, now.isoformat(), learner_id),
    )


def set_cohort(conn: sqlite3.Connection, learner_id: int, cohort: str, now: datetime) -> None:
    conn.execute(
        "UPDATE learners SET cohort = ?, updated_at = ? WHERE id = ?", (cohort or None, now.isoformat(), learner_id)
    )


def export_learner(conn: sqlite3.Connection, learner_id: int) -> dict:
    """Everything stored about one learner (the GDPR access request), as plain JSON-able data."""

    def rows(sql: str) -> list[dict]:
        return [dict(r) for r in conn.execute(sql, (learner_id,))]

    return {
        "learner": rows("SELECT * FROM learners WHERE id = ?"),
        "enrollments": rows("SELECT * FROM enrollments WHERE learner_id = ?"),
        "progress": rows("SELECT * FROM progress WHERE learner_id = ?"),
        "answers": rows("SELECT * FROM answers WHERE learner_id = ?"),
        "badges": rows("SELECT * FROM learner_badges WHERE learner_id = ?"),
        "certificates": rows(
            "SELECT code, course_id, learner_name, score, issued_at, revoked_at FROM certificates WHERE learner_id = ?"
        ),
        "messages": [
            {**r, "media": json.loads(r["media"] or "[]")}
            for r in rows(
                "SELECT id, direction, channel, body, media, kind, status, created_at, sent_at FROM messages "
                "WHERE learner_id = ? ORDER BY id"
            )
        ],
    }


ENROLLMENT_STATUSES = ("active", "completed", "dropped")


def enrollment_page(
    conn: sqlite3.Connection, *, course_id: int | None, status: str, page: int, per_page: int
) -> tuple[list[dict], int]:
    """Enrolments for the JSON API, oldest first (stable paging), with each one's completed-lesson count."""
    clauses: list[str] = ["l.deleted_at IS NULL"]
    params: list[str | int] = []
    if course_id is not None:
        clauses.append("e.course_id = ?")
        params.append(course_id)
    if status in ENROLLMENT_STATUSES:
        clauses.append("e.status = ?")
        params.append(status)
    where = " AND ".join(clauses)
    total = conn.execute(
        f"SELECT COUNT(*) FROM enrollments e JOIN learners l ON l.id = e.learner_id WHERE {where}", params
    ).fetchone()[0]
    rows = conn.execute(
        f"""SELECT e.id, e.learner_id, e.course_id, c.slug AS course_slug, e.status, e.next_position, e.score,
                   e.started_at, e.completed_at,
                   (SELECT COUNT(*) FROM progress p JOIN lessons s ON s.id = p.lesson_id
                     WHERE p.learner_id = e.learner_id AND s.course_id = e.course_id
                       AND p.completed_at IS NOT NULL) AS completed_lessons
            FROM enrollments e JOIN learners l ON l.id = e.learner_id JOIN courses c ON c.id = e.course_id
            WHERE {where} ORDER BY e.id LIMIT ? OFFSET ?""",
        (*params, per_page, (page - 1) * per_page),
    ).fetchall()
    return [dict(r) for r in rows], total


def lesson_progress(conn: sqlite3.Connection, learner_id: int) -> list[dict]:
    """Per-lesson progress of one learner, in course and lesson order."""
    rows = conn.execute(
        """SELECT s.course_id, c.slug AS course_slug, p.lesson_id, s.position, s.title, p.delivered_at,
                  p.completed_at, p.correct, p.total, p.attempts, p.passed
           FROM progress p JOIN lessons s ON s.id = p.lesson_id JOIN courses c ON c.id = s.course_id
           WHERE p.learner_id = ? ORDER BY c.position, c.id, s.position""",
        (learner_id,),
    ).fetchall()
    return [{**dict(r), "passed": bool(r["passed"])} for r in rows]
