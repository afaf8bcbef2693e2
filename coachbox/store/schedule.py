"""Queries for the coach's clock: next lesson instants, proactive delivery keys and job runs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta

from coachbox.store import inserted_id

# The scan reads only what the pure rules need; the engine loads its own snapshot for learners who get a lesson.
# INDEXED BY: without ANALYZE statistics the planner prefers learners_status (every active learner) and sorts;
# the partial next_lesson_at index makes "nobody due this minute" one index probe.
_DUE_COLUMNS = "id, timezone, lesson_time, next_lesson_at, last_inbound_at"


def learners_to_reschedule(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Active learners whose next lesson instant must be worked out again (new, moved time, resumed…), with
    when they last received any lesson (onboarding ends with one: no daily lesson on top of it that day)."""
    return conn.execute(
        f"""SELECT {_DUE_COLUMNS},
                   (SELECT MAX(delivered_at) FROM progress p WHERE p.learner_id = learners.id) AS last_delivered_at
            FROM learners INDEXED BY schedule_learners_next_lesson
            WHERE status = 'active' AND opted_out = 0 AND next_lesson_at IS NULL LIMIT ?""",
        (limit,),
    ).fetchall()


def due_learners(conn: sqlite3.Connection, now: datetime, limit: int) -> list[sqlite3.Row]:
    """Learners whose lesson instant has come, earliest first (so outbox ids follow due times)."""
    return conn.execute(
        f"""SELECT {_DUE_COLUMNS} FROM learners INDEXED BY schedule_learners_next_lesson
            WHERE status = 'active' AND opted_out = 0 AND next_lesson_at <= ?
            ORDER BY next_lesson_at, id LIMIT ?""",
        (now.isoformat(), limit),
    ).fetchall()


def learners_due_by(
    conn: sqlite3.Connection, now: datetime, early: timedelta, keep_open: timedelta, margin: timedelta, limit: int
) -> list[sqlite3.Row]:
    """Learners whose lesson is due after `now` but within `early`, whose 24-hour window closes between `early`
    before it and `keep_open` after it, and whose early instant (`margin` before the window closes or the lesson
    is due, whichever is first) has come: those an early lesson may be for (schedule.daily; the pure rule,
    learning.timing.send_early, decides: quiet hours, the local date). Earliest due first."""
    # julianday arithmetic (days as floats): a second of slack each way keeps rounding from losing an exact edge;
    # the pure rule decides to the second.
    day, slack = 1.0, 1 / 86_400
    return conn.execute(
        f"""SELECT {_DUE_COLUMNS} FROM learners INDEXED BY schedule_learners_next_lesson
            WHERE status = 'active' AND opted_out = 0 AND next_lesson_at > :now AND next_lesson_at <= :until
              AND last_inbound_at IS NOT NULL
              AND julianday(last_inbound_at) + :day > julianday(next_lesson_at) - :early - :slack
              AND julianday(last_inbound_at) + :day <= julianday(next_lesson_at) + :keep + :slack
              AND MIN(julianday(last_inbound_at) + :day, julianday(next_lesson_at)) - :margin
                  <= julianday(:now) + :slack
            ORDER BY next_lesson_at, id LIMIT :limit""",
        {
            "now": now.isoformat(),
            "until": (now + early).isoformat(),
            "day": day,
            "slack": slack,
            "early": early / timedelta(days=1),
            "keep": keep_open / timedelta(days=1),
            "margin": margin / timedelta(days=1),
            "limit": limit,
        },
    ).fetchall()


def lesson_days_in_window(conn: sqlite3.Connection, since: str) -> tuple[int, int]:
    """(lesson days on local dates from `since`, those of them sent inside WhatsApp's 24-hour window). A lesson day
    is a daily lesson sent, or held for the learner's reply (held_lesson: a paid nudge template first, or silence
    when the back-off said no); a day with nothing to send (course finished) is none."""
    total, inside = conn.execute(
        """SELECT COUNT(*), COALESCE(SUM(h.learner_id IS NULL), 0)
           FROM deliveries d LEFT JOIN deliveries h
                ON h.learner_id = d.learner_id AND h.kind = 'held_lesson' AND h.key = d.key
           WHERE d.kind = 'daily_lesson' AND d.key >= ?
             AND (d.status = 'done' OR (d.status = 'empty' AND h.learner_id IS NOT NULL))""",
        (since,),
    ).fetchone()
    return total, inside


def set_next_lessons(conn: sqlite3.Connection, rows: Iterable[tuple[str, int]]) -> None:
    conn.executemany("UPDATE learners SET next_lesson_at = ? WHERE id = ?", rows)


def claim(
    conn: sqlite3.Connection,
    learner_id: int,
    kind: str,
    key: str,
    *,
    due_at: datetime | None,
    status: str,
    now: datetime,
    lesson_id: int | None = None,
) -> bool:
    """Insert the (learner, kind, key) delivery row; False when it exists: the exactly-once gate."""
    cursor = conn.execute(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        (learner_id, kind, key, lesson_id, due_at.isoformat() if due_at else None, status, now.isoformat()),
    )
    return cursor.rowcount == 1


def settle(
    conn: sqlite3.Connection, learner_id: int, kind: str, key: str, status: str, lesson_id: int | None = None
) -> None:
    conn.execute(
        """UPDATE deliveries SET status = ?, lesson_id = COALESCE(?, lesson_id)
           WHERE learner_id = ? AND kind = ? AND key = ?""",
        (status, lesson_id, learner_id, kind, key),
    )


def lesson_delivered_at(conn: sqlite3.Connection, learner_id: int, when: datetime) -> int | None:
    """The lesson a turn at `when` delivered (progress.delivered_at is the turn's clock reading)."""
    row = conn.execute(
        "SELECT lesson_id FROM progress WHERE learner_id = ? AND delivered_at = ? LIMIT 1",
        (learner_id, when.isoformat()),
    ).fetchone()
    return row[0] if row else None


def claim_many(
    conn: sqlite3.Connection, kind: str, rows: list[tuple[int, str, datetime | None, str]], *, now: datetime
) -> set[int]:
    """claim() for a batch of (learner, key, due at, status): the learners whose row was new. Call inside the
    write transaction (existing rows are read first, so nothing can slip in between)."""
    if not rows:
        return set()
    found = conn.execute(
        """SELECT learner_id, key FROM deliveries WHERE kind = ? AND learner_id IN (SELECT value FROM json_each(?))
           AND key IN (SELECT value FROM json_each(?))""",
        (kind, json.dumps(sorted({r[0] for r in rows})), json.dumps(sorted({r[1] for r in rows}))),
    ).fetchall()
    existing = {(r[0], r[1]) for r in found}
    new = [r for r in rows if (r[0], r[1]) not in existing]
    conn.executemany(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        [(r[0], kind, r[1], r[2].isoformat() if r[2] else None, r[3], now.isoformat()) for r in new],
    )
    return {r[0] for r in new}


def settle_many(conn: sqlite3.Connection, rows: list[tuple[str, int | None, int, str, str]]) -> None:
    """settle() for a batch of (status, lesson, learner, kind, key)."""
    conn.executemany(
        """UPDATE deliveries SET status = ?, lesson_id = COALESCE(?, lesson_id)
           WHERE learner_id = ? AND kind = ? AND key = ?""",
        rows,
    )


def lessons_delivered_at(conn: sqlite3.Connection, learner_ids: list[int], when: datetime) -> dict[int, int]:
    """lesson_delivered_at() for a batch of learners."""
    return dict(
        conn.execute(
            """SELECT learner_id, MIN(lesson_id) FROM progress WHERE learner_id IN (SELECT value FROM json_each(?))
           AND delivered_at = ? GROUP BY learner_id""",
            (json.dumps(learner_ids), when.isoformat()),
        ).fetchall()
    )


def with_review_due(conn: sqlite3.Connection, learner_ids: list[int], *, before: datetime) -> set[int]:
    """Learners among these with a review item due before `before`."""
    return {
        r[0]
        for r in conn.execute(
            """SELECT DISTINCT learner_id FROM review_items WHERE learner_id IN (SELECT value FROM json_each(?))
           AND due_at < ?""",
            (json.dumps(learner_ids), before.isoformat()),
        )
    }


def due_followups(conn: sqlite3.Connection, now: datetime, limit: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT d.learner_id, d.key, d.lesson_id, d.due_at, l.timezone, l.status, l.opted_out
           FROM deliveries d JOIN learners l ON l.id = d.learner_id
           WHERE d.status = 'pending' AND d.kind = 'quiz_followup' AND d.due_at <= ?
           ORDER BY d.due_at LIMIT ?""",
        (now.isoformat(), limit),
    ).fetchall()


# -- job runs ---------------------------------------------------------------------------------------------------------
def start_run(conn: sqlite3.Connection, name: str, now: datetime) -> int:
    # A run still 'running' under this name belongs to a process that died (kill -9, power cut): say so.
    conn.execute(
        "UPDATE job_runs SET outcome = 'interrupted', finished_at = ? WHERE name = ? AND outcome = 'running'",
        (now.isoformat(), name),
    )
    return inserted_id(conn.execute("INSERT INTO job_runs (name, started_at) VALUES (?, ?)", (name, now.isoformat())))


def finish_run(
    conn: sqlite3.Connection, run_id: int, outcome: str, detail: str, now: datetime, *, idle: bool = False
) -> None:
    """Record the outcome. An idle run (nothing to do) replaces the previous idle run of the same job, so a
    once-a-minute task leaves one row per day of activity rather than 1,440."""
    stamp = now.isoformat()
    row = conn.execute("SELECT name FROM job_runs WHERE id = ?", (run_id,)).fetchone()
    if idle and row is not None:
        previous = conn.execute(
            "SELECT id, outcome, detail FROM job_runs WHERE name = ? AND id < ? ORDER BY id DESC LIMIT 1",
            (row["name"], run_id),
        ).fetchone()
        if previous is not None and previous["outcome"] == outcome and previous["detail"] == detail:
            conn.execute(
                "UPDATE job_runs SET started_at = (SELECT started_at FROM job_runs WHERE id = ?), "
                "finished_at = ? WHERE id = ?",
                (run_id, stamp, previous["id"]),
            )
            conn.execute("DELETE FROM job_runs WHERE id = ?", (run_id,))
            return
    conn.execute(
        "UPDATE job_runs SET outcome = ?, detail = ?, finished_at = ? WHERE id = ?",
        (outcome, detail[:500], stamp, run_id),
    )


def latest_runs(conn: sqlite3.Connection) -> dict[str, sqlite3.Row]:
    """The newest run of every job name (`coachbox jobs`, the admin operations page)."""
    rows = conn.execute(
        """SELECT r.* FROM job_runs r JOIN (SELECT name, MAX(id) AS id FROM job_runs GROUP BY name) m ON m.id = r.id"""
    ).fetchall()
    return {row["name"]: row for row in rows}


def prune_runs(conn: sqlite3.Connection, before: datetime) -> int:
    return conn.execute("DELETE FROM job_runs WHERE started_at < ?", (before.isoformat(),)).rowcount
