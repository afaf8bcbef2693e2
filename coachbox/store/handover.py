"""Queries for handovers to a person (migration 0020): handovers, their events, and teachers' saved replies."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from coachbox.learning.learner import Handover as EngineHandover
from coachbox.store import inserted_id

REASONS = ("asked", "tutor_no_answer", "tutor_flagged", "tutor_guardrail", "payment", "safeguarding")
EVENT_KINDS = ("opened", "learner_message", "teacher_reply", "note", "assigned", "closed", "reopened")
DETAIL_LIMIT = 2000
BODY_LIMIT = 4000


@dataclass(frozen=True)
class Handover:
    """One conversation of a learner with a person; `assigned_to` and `closed_by` are admin ids."""

    id: int
    learner_id: int
    status: str  # open | closed
    reason: str  # why it was first opened (REASONS)
    detail: str
    opened_at: str
    waiting_since: str | None  # the learner has waited for a person since then; None once a teacher replied
    assigned_to: int | None
    first_reply_at: str | None
    closed_at: str | None
    closed_by: int | None
    bot_paused: bool
    lessons_paused: bool
    tutor_exchange_id: int | None = None
    payment_id: int | None = None
    acked_at: str | None = None  # the learner was last told a teacher will answer
    learner_name: str | None = None
    language: str = "en"
    cohort: str | None = None


@dataclass(frozen=True)
class HandoverEvent:
    """One line of a handover's history; `note` bodies are internal and never sent to the learner."""

    id: int
    handover_id: int
    kind: str
    reason: str | None
    admin_id: int | None
    body: str
    message_id: int | None
    created_at: str


@dataclass(frozen=True)
class SavedReply:
    id: int
    title: str
    language: str
    body: str
    created_at: str
    updated_at: str


_COLUMNS = (
    "h.id, h.learner_id, h.status, h.reason, h.detail, h.opened_at, h.waiting_since, h.assigned_to, "
    "h.first_reply_at, h.closed_at, h.closed_by, h.bot_paused, h.lessons_paused, h.tutor_exchange_id, "
    "h.payment_id, h.acked_at, COALESCE(learners.name, learners.profile_name) AS learner_name, learners.language, "
    "learners.cohort"
)
_FROM = "FROM handovers h JOIN learners ON learners.id = h.learner_id"


def _handover(row: sqlite3.Row) -> Handover:
    values = dict(row)
    values["bot_paused"] = bool(values["bot_paused"])
    values["lessons_paused"] = bool(values["lessons_paused"])
    return Handover(**values)


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise ValueError(f"unknown handover reason {reason!r}: one of {', '.join(REASONS)}")


def open_handover(
    conn: sqlite3.Connection,
    learner_id: int,
    reason: str,
    now: datetime,
    *,
    detail: str = "",
    tutor_exchange_id: int | None = None,
    payment_id: int | None = None,
    key: str | None = None,
    acked: bool = False,
    bot_paused: bool = True,
) -> int:
    """Open a handover for the learner, or add this reason as an 'opened' event to the one already open (one open
    conversation per learner); returns its id. `key` makes it idempotent: an opener replayed with the same key
    (a webhook retry) changes nothing and returns the handover it opened the first time, even if closed since.
    `acked`: the learner has just been told a teacher will answer (acked_at = now). `bot_paused=False`: an opener
    the learner did not ask for (a payment review) leaves the bot answering them; a teacher pauses it (set_paused),
    and so does any later opener with bot_paused=True (the learner asking, the tutor handing over)."""
    _check_reason(reason)
    if key is not None:
        seen = conn.execute("SELECT handover_id FROM handover_events WHERE dedupe_key = ?", (key,)).fetchone()
        if seen is not None:
            return int(seen[0])
    stamp = now.isoformat()
    detail = detail[:DETAIL_LIMIT]
    current = conn.execute(
        "SELECT id FROM handovers WHERE learner_id = ? AND status = 'open'", (learner_id,)
    ).fetchone()
    if current is not None:
        handover_id = int(current[0])
        conn.execute(
            """UPDATE handovers SET waiting_since = COALESCE(waiting_since, ?),
                      tutor_exchange_id = COALESCE(tutor_exchange_id, ?), payment_id = COALESCE(payment_id, ?),
                      bot_paused = MAX(bot_paused, ?), updated_at = ?
               WHERE id = ?""",
            (stamp, tutor_exchange_id, payment_id, int(bot_paused), stamp, handover_id),
        )
    else:
        handover_id = inserted_id(
            conn.execute(
                """INSERT INTO handovers (learner_id, reason, detail, opened_at, waiting_since, tutor_exchange_id,
                                          payment_id, bot_paused, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (learner_id, reason, detail, stamp, stamp, tutor_exchange_id, payment_id, int(bot_paused), stamp),
            )
        )
    conn.execute(
        """INSERT INTO handover_events (handover_id, kind, reason, body, dedupe_key, created_at)
           VALUES (?, 'opened', ?, ?, ?, ?)""",
        (handover_id, reason, detail, key, stamp),
    )
    if acked:
        record_ack(conn, handover_id, now)
    return handover_id


def learner_message(
    conn: sqlite3.Connection,
    learner_id: int,
    body: str,
    now: datetime,
    *,
    message_key: str | None = None,
    acked: bool = False,
) -> int | None:
    """The learner wrote while a teacher has the conversation: a learner_message event on their open handover,
    linked to the inbound row (its idempotency key `message_key`). Returns the handover id; None if none is open."""
    current = conn.execute(
        "SELECT id FROM handovers WHERE learner_id = ? AND status = 'open'", (learner_id,)
    ).fetchone()
    if current is None:
        return None
    handover_id = int(current[0])
    message = (
        conn.execute("SELECT id FROM messages WHERE idempotency_key = ?", (message_key,)).fetchone()
        if message_key
        else None
    )
    add_handover_event(
        conn, handover_id, "learner_message", now, body=body, message_id=int(message[0]) if message else None
    )
    if acked:
        record_ack(conn, handover_id, now)
    return handover_id


def close_open(conn: sqlite3.Connection, learner_id: int, now: datetime, by_admin_id: int | None = None) -> int | None:
    """Close the learner's open handover (STOP: by nobody); returns its id, None when none was open."""
    current = conn.execute(
        "SELECT id FROM handovers WHERE learner_id = ? AND status = 'open'", (learner_id,)
    ).fetchone()
    if current is None:
        return None
    close_handover(conn, int(current[0]), now, by_admin_id)
    return int(current[0])


def get_handover(conn: sqlite3.Connection, handover_id: int) -> Handover | None:
    row = conn.execute(f"SELECT {_COLUMNS} {_FROM} WHERE h.id = ?", (handover_id,)).fetchone()
    return _handover(row) if row is not None else None


def open_for_engine(conn: sqlite3.Connection, learner_id: int) -> EngineHandover | None:
    """The learner's open handover as the engine reads it (store.learners.snapshot): one look-up on the index of
    open handovers."""
    row = conn.execute(
        """SELECT id, reason, opened_at, acked_at, bot_paused, lessons_paused FROM handovers
           WHERE learner_id = ? AND status = 'open'""",
        (learner_id,),
    ).fetchone()
    if row is None:
        return None
    return EngineHandover(
        row["id"],
        row["reason"],
        row["opened_at"],
        row["acked_at"],
        bool(row["bot_paused"]),
        bool(row["lessons_paused"]),
    )


def open_handover_for(conn: sqlite3.Connection, learner_id: int) -> Handover | None:
    """The learner's open handover, if any."""
    row = conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE h.learner_id = ? AND h.status = 'open'", (learner_id,)
    ).fetchone()
    return _handover(row) if row is not None else None


def list_handovers(
    conn: sqlite3.Connection,
    *,
    status: str | None = "open",
    scope_sql: str = "1",
    scope_params: tuple | list = (),
    assigned_to: int | None = None,
    limit: int = 200,
) -> list[Handover]:
    """Handovers in a status (None: any) among the learners `scope_sql` allows (a fragment on `learners.id`, from
    admin.scope); `assigned_to` narrows to one admin's. Waiting ones first, the newest wait first; then the rest,
    newest opened first."""
    where = ["(" + scope_sql + ")"]
    params: list = list(scope_params)
    if status is not None:
        where.append("h.status = ?")
        params.append(status)
    if assigned_to is not None:
        where.append("h.assigned_to = ?")
        params.append(assigned_to)
    rows = conn.execute(
        f"""SELECT {_COLUMNS} {_FROM} WHERE {" AND ".join(where)}
            ORDER BY h.waiting_since IS NULL, h.waiting_since DESC, h.opened_at DESC, h.id DESC LIMIT ?""",
        (*params, limit),
    ).fetchall()
    return [_handover(r) for r in rows]


def count_open(conn: sqlite3.Connection, scope_sql: str = "1", scope_params: tuple | list = ()) -> int:
    """Open handovers among the learners `scope_sql` (a fragment on `learners.id`) allows."""
    row = conn.execute(
        f"SELECT COUNT(*) {_FROM} WHERE h.status = 'open' AND ({scope_sql})", tuple(scope_params)
    ).fetchone()
    return int(row[0])


def add_handover_event(
    conn: sqlite3.Connection,
    handover_id: int,
    kind: str,
    now: datetime,
    *,
    admin_id: int | None = None,
    body: str = "",
    message_id: int | None = None,
    reason: str | None = None,
) -> int:
    """One event; returns its id. A learner_message starts the wait (waiting_since) when none is running; a
    teacher_reply ends it and sets first_reply_at the first time. Notes are internal: nothing sends them."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown handover event kind {kind!r}: one of {', '.join(EVENT_KINDS)}")
    stamp = now.isoformat()
    event_id = inserted_id(
        conn.execute(
            """INSERT INTO handover_events (handover_id, kind, reason, admin_id, body, message_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (handover_id, kind, reason, admin_id, body[:BODY_LIMIT], message_id, stamp),
        )
    )
    if kind == "learner_message":
        conn.execute(
            "UPDATE handovers SET waiting_since = COALESCE(waiting_since, ?), updated_at = ? WHERE id = ?",
            (stamp, stamp, handover_id),
        )
    elif kind == "teacher_reply":
        conn.execute(
            """UPDATE handovers SET waiting_since = NULL, first_reply_at = COALESCE(first_reply_at, ?),
                      updated_at = ? WHERE id = ?""",
            (stamp, stamp, handover_id),
        )
    return event_id


def handover_events(conn: sqlite3.Connection, handover_id: int) -> list[HandoverEvent]:
    """A handover's history, oldest first."""
    rows = conn.execute(
        """SELECT id, handover_id, kind, reason, admin_id, body, message_id, created_at
           FROM handover_events WHERE handover_id = ? ORDER BY id""",
        (handover_id,),
    ).fetchall()
    return [HandoverEvent(**dict(r)) for r in rows]


def assign_handover(
    conn: sqlite3.Connection, handover_id: int, admin_id: int | None, now: datetime, by_admin_id: int | None
) -> None:
    """Give the handover to an admin (None: nobody); an 'assigned' event says who did it (body: the new admin id)."""
    stamp = now.isoformat()
    conn.execute("UPDATE handovers SET assigned_to = ?, updated_at = ? WHERE id = ?", (admin_id, stamp, handover_id))
    add_handover_event(
        conn, handover_id, "assigned", now, admin_id=by_admin_id, body="" if admin_id is None else str(admin_id)
    )


def record_first_reply(conn: sqlite3.Connection, handover_id: int, now: datetime) -> None:
    """A person answered the learner: the wait ends; the first time also sets first_reply_at."""
    stamp = now.isoformat()
    conn.execute(
        """UPDATE handovers SET waiting_since = NULL, first_reply_at = COALESCE(first_reply_at, ?), updated_at = ?
           WHERE id = ?""",
        (stamp, stamp, handover_id),
    )


def close_handover(conn: sqlite3.Connection, handover_id: int, now: datetime, by_admin_id: int | None) -> bool:
    """Close an open handover (False when it was not open). Telling the learner is turns.handover.close_and_notify's
    job; this only writes the rows."""
    stamp = now.isoformat()
    cursor = conn.execute(
        """UPDATE handovers SET status = 'closed', closed_at = ?, closed_by = ?, waiting_since = NULL, updated_at = ?
           WHERE id = ? AND status = 'open'""",
        (stamp, by_admin_id, stamp, handover_id),
    )
    if cursor.rowcount != 1:
        return False
    add_handover_event(conn, handover_id, "closed", now, admin_id=by_admin_id)
    return True


def reopen_handover(conn: sqlite3.Connection, handover_id: int, now: datetime, by_admin_id: int | None) -> bool:
    """Reopen a closed handover; False when it is not closed or its learner has another one open."""
    stamp = now.isoformat()
    try:
        cursor = conn.execute(
            """UPDATE handovers SET status = 'open', closed_at = NULL, closed_by = NULL, updated_at = ?
               WHERE id = ? AND status = 'closed'""",
            (stamp, handover_id),
        )
    except sqlite3.IntegrityError:  # handovers_one_open: the learner already has an open one
        return False
    if cursor.rowcount != 1:
        return False
    add_handover_event(conn, handover_id, "reopened", now, admin_id=by_admin_id)
    return True


def set_paused(
    conn: sqlite3.Connection,
    handover_id: int,
    now: datetime,
    *,
    bot: bool | None = None,
    lessons: bool | None = None,
) -> None:
    """A teacher pauses or resumes the bot's answers to free text or the scheduled lessons while it is open."""
    stamp = now.isoformat()
    if bot is not None:
        conn.execute("UPDATE handovers SET bot_paused = ?, updated_at = ? WHERE id = ?", (int(bot), stamp, handover_id))
    if lessons is not None:
        conn.execute(
            "UPDATE handovers SET lessons_paused = ?, updated_at = ? WHERE id = ?", (int(lessons), stamp, handover_id)
        )


def record_ack(conn: sqlite3.Connection, handover_id: int, now: datetime) -> None:
    """The learner was just told a teacher will answer (the engine says it at most once an hour)."""
    conn.execute("UPDATE handovers SET acked_at = ? WHERE id = ?", (now.isoformat(), handover_id))


def lessons_paused(conn: sqlite3.Connection, learner_id: int) -> bool:
    """Has a teacher paused this learner's scheduled lessons during an open handover?"""
    row = conn.execute(
        "SELECT 1 FROM handovers WHERE learner_id = ? AND status = 'open' AND lessons_paused = 1", (learner_id,)
    ).fetchone()
    return row is not None


def erase_learner_handovers(conn: sqlite3.Connection, learner_id: int, now: datetime) -> None:
    """DELETE (store.learners.erase): close the learner's open handover and blank the words of all of theirs and
    their events; the rows stay, so the inbox figures (time to first reply, open items) do not change."""
    stamp = now.isoformat()
    conn.execute(
        """UPDATE handovers SET status = 'closed', closed_at = ?, waiting_since = NULL, updated_at = ?
           WHERE learner_id = ? AND status = 'open'""",
        (stamp, stamp, learner_id),
    )
    conn.execute("UPDATE handovers SET detail = '' WHERE learner_id = ?", (learner_id,))
    conn.execute(
        """UPDATE handover_events SET body = '' WHERE handover_id IN (SELECT id FROM handovers WHERE learner_id = ?)""",
        (learner_id,),
    )


def export_learner_handovers(conn: sqlite3.Connection, learner_id: int) -> list[dict]:
    """The learner's conversations with teachers for their data export (MYDATA, the admin's export), each with its
    events; teachers' internal notes are left out (they may hold a safeguarding assessment)."""
    found = []
    for row in conn.execute(
        """SELECT id, status, reason, detail, opened_at, first_reply_at, closed_at FROM handovers
           WHERE learner_id = ? ORDER BY id""",
        (learner_id,),
    ).fetchall():
        item = dict(row)
        item["events"] = [
            dict(e)
            for e in conn.execute(
                """SELECT kind, reason, body, created_at FROM handover_events
                   WHERE handover_id = ? AND kind != 'note' ORDER BY id""",
                (row["id"],),
            )
        ]
        found.append(item)
    return found


def list_saved_replies(conn: sqlite3.Connection, language: str | None = None) -> list[SavedReply]:
    """Saved replies, by language then title; `language` narrows to one."""
    if language is None:
        rows = conn.execute(
            "SELECT id, title, language, body, created_at, updated_at FROM saved_replies ORDER BY language, title, id"
        ).fetchall()
    else:
        rows = conn.execute(
            """SELECT id, title, language, body, created_at, updated_at FROM saved_replies WHERE language = ?
               ORDER BY title, id""",
            (language,),
        ).fetchall()
    return [SavedReply(**dict(r)) for r in rows]


def save_reply(
    conn: sqlite3.Connection, reply_id: int | None, title: str, language: str, body: str, now: datetime
) -> int:
    """Create (reply_id None) or update a saved reply; returns its id."""
    stamp = now.isoformat()
    if reply_id is None:
        return inserted_id(
            conn.execute(
                """INSERT INTO saved_replies (title, language, body, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?)""",
                (title, language, body, stamp, stamp),
            )
        )
    conn.execute(
        "UPDATE saved_replies SET title = ?, language = ?, body = ?, updated_at = ? WHERE id = ?",
        (title, language, body, stamp, reply_id),
    )
    return reply_id


def delete_saved_reply(conn: sqlite3.Connection, reply_id: int) -> None:
    conn.execute("DELETE FROM saved_replies WHERE id = ?", (reply_id,))
