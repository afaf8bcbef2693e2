"""Set-based queries for the scheduler's batched proactive turns: snapshots for a whole batch, outbox rows at once."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from operator import itemgetter
from typing import Any

from coachbox.learning.learner import Enrollment, Learner
from coachbox.learning.learner import Handover as EngineHandover
from coachbox.learning.progress import LessonResult
from coachbox.learning.streaks import Streak
from coachbox.store.progress import HELD, NUDGE, missed_ids

# Every query takes the batch as one JSON list (json_each): one statement whatever the batch size, no limit on
# the number of SQL variables, and the plan is the same index probe per learner as the one-learner query.
_IDS = "(SELECT value FROM json_each(?))"


def learner_rows(conn: sqlite3.Connection, ids: list[int]) -> dict[int, sqlite3.Row]:
    return {row["id"]: row for row in conn.execute(f"SELECT * FROM learners WHERE id IN {_IDS}", (json.dumps(ids),))}


# The learner columns that change after sign-up: a turn (its counter), the scheduler, the admin, the streak job.
# Comparing these (not the whole row) is how a batch decided outside the write lock finds who changed since.
WATCHED = (
    "turn",
    "status",
    "opted_out",
    "language",
    "timezone",
    "lesson_time",
    "current_course_id",
    "streak",
    "best_streak",
    "streak_freezes",
    "last_active_date",
    "next_taken_date",
    "next_taken_count",
    "last_inbound_at",
    "next_lesson_at",
    "deleted_at",
)


def versions(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple]:
    """The WATCHED columns of each learner's current row, for many learners (a narrow read: the write lock is held
    while it runs)."""
    query = f"SELECT id, {', '.join(WATCHED)} FROM learners WHERE id IN {_IDS}"
    return {r[0]: r[1:] for r in _tuples(conn).execute(query, (json.dumps(ids),))}


def versions_of(rows: dict[int, sqlite3.Row]) -> dict[int, tuple]:
    """versions() from learner_rows() read already in the same transaction (the same columns, the same snapshot):
    no second query of the batch's learners."""
    if not rows:
        return {}
    columns = next(iter(rows.values())).keys()
    get = itemgetter(*(columns.index(name) for name in WATCHED))
    return {learner_id: get(row) for learner_id, row in rows.items()}


def _tuples(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor giving plain tuples: a sqlite3.Row costs more to make and to slice, for columns read by position."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


# Snapshots are made from a blank one (Learner.evolve): ~1 µs each instead of ~4 through Learner(...)'s __init__.
_BLANK = Learner(0)


def snapshots(
    conn: sqlite3.Connection, rows: Iterable[sqlite3.Row], access: Callable[[sqlite3.Row], Any] = lambda row: None
) -> dict[int, Learner]:
    """What learners.snapshot() gives, for many learners in five queries, without what a proactive turn never
    reads: the message count and open lesson (only a rebuilt session uses them) and the leaderboard."""
    rows = list(rows)
    ids = json.dumps([row["id"] for row in rows])
    # Most learners of a fan-out share their enrollment (course, status, position) and their streak: frozen, so
    # each value is made once a batch and shared.
    made: dict[tuple, Any] = {}
    enrollments: dict[int, list[Enrollment]] = defaultdict(list)
    for learner_id, *enrollment in _tuples(conn).execute(
        f"SELECT learner_id, course_id, status, next_position FROM enrollments WHERE learner_id IN {_IDS} ORDER BY id",
        (ids,),
    ):
        key = ("enrollment", *enrollment)
        if key not in made:
            made[key] = Enrollment(*enrollment)
        enrollments[learner_id].append(made[key])
    results: dict[int, list[LessonResult]] = defaultdict(list)
    for r in _tuples(conn).execute(
        f"""SELECT p.learner_id, p.lesson_id, l.course_id, p.correct, p.total, p.passed, p.completed_local_date,
                       p.missed
                FROM progress p JOIN lessons l ON l.id = p.lesson_id
                WHERE p.learner_id IN {_IDS} AND p.completed_at IS NOT NULL ORDER BY p.id""",
        (ids,),
    ):
        results[r[0]].append(LessonResult(r[1], r[2], r[3], r[4], bool(r[5]), r[6], missed_ids(r[7])))
    badges: dict[int, set[str]] = defaultdict(set)
    for learner_id, code in _tuples(conn).execute(
        f"SELECT learner_id, code FROM learner_badges WHERE learner_id IN {_IDS}", (ids,)
    ):
        badges[learner_id].add(code)
    last = dict(
        _tuples(conn).execute(
            f"""SELECT learner_id, lesson_id FROM (
                SELECT learner_id, lesson_id,
                       ROW_NUMBER() OVER (PARTITION BY learner_id ORDER BY delivered_at DESC, id DESC) AS n
                FROM progress WHERE learner_id IN {_IDS} AND delivered_at IS NOT NULL) WHERE n = 1""",
            (ids,),
        )
    )
    if not rows:
        return {}
    open_handovers = {  # a teacher has the conversation (store.handover): a paused learner gets no lesson
        r[0]: EngineHandover(r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]))
        for r in _tuples(conn).execute(
            f"""SELECT learner_id, id, reason, opened_at, acked_at, bot_paused, lessons_paused FROM handovers
                WHERE status = 'open' AND learner_id IN {_IDS}""",
            (ids,),
        )
    }
    # The row's columns by position, all at once (a sqlite3.Row looks each name up among its ~30 columns).
    columns = rows[0].keys()
    get = itemgetter(*(columns.index(name) for name in _SNAPSHOT_COLUMNS))
    snapshots = {}
    for row in rows:
        (
            learner_id,
            channel,
            phone,
            name,
            profile_name,
            language,
            timezone,
            lesson_time,
            status,
            opted_out,
            course_id,
            streak,
            best_streak,
            freezes,
            last_active,
            taken_date,
            taken_count,
            created_at,
            cohort,
            last_inbound,
        ) = get(row)
        key = ("streak", streak, best_streak, freezes, last_active)
        if key not in made:
            made[key] = Streak(streak, best_streak, freezes, last_active)
        snapshots[learner_id] = _BLANK.evolve(
            id=learner_id,
            channel=channel,
            phone=phone,
            name=name,
            profile_name=profile_name,
            language=language,
            timezone=timezone,
            lesson_time=lesson_time,
            status=status,
            opted_out=bool(opted_out),
            current_course_id=course_id,
            streak=made[key],
            next_taken_date=taken_date,
            next_taken_count=taken_count,
            enrollments=tuple(enrollments.get(learner_id, ())),
            results=tuple(results.get(learner_id, ())),
            badges=frozenset(badges.get(learner_id, ())),
            last_lesson_id=last.get(learner_id),
            created_at=created_at,
            cohort=cohort,
            last_inbound_at=last_inbound,
            access=access(row),
            handover=open_handovers.get(learner_id),
        )
    return snapshots


_SNAPSHOT_COLUMNS = (
    "id",
    "channel",
    "phone",
    "name",
    "profile_name",
    "language",
    "timezone",
    "lesson_time",
    "status",
    "opted_out",
    "current_course_id",
    "streak",
    "best_streak",
    "streak_freezes",
    "last_active_date",
    "next_taken_date",
    "next_taken_count",
    "created_at",
    "cohort",
    "last_inbound_at",
)


def live_subscriptions(conn: sqlite3.Connection, ids: list[int], now: datetime) -> dict[int, list[sqlite3.Row]]:
    """store.payments.live_subscriptions() for many learners."""
    found: dict[int, list[sqlite3.Row]] = defaultdict(list)
    for row in conn.execute(
        f"""SELECT * FROM subscriptions WHERE learner_id IN {_IDS} AND status != 'ended'
                                AND access_until > ? ORDER BY access_until DESC""",
        (json.dumps(ids), now.isoformat()),
    ):
        found[row["learner_id"]].append(row)
    return found


def deliveries(conn: sqlite3.Connection, kind: str, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Status of existing (learner, kind, key) delivery rows among `pairs`."""
    pairs = list(pairs)
    if not pairs:
        return {}
    ids, keys = json.dumps(sorted({p[0] for p in pairs})), json.dumps(sorted({p[1] for p in pairs}))
    wanted = set(pairs)
    return {
        (r[0], r[1]): r[2]
        for r in conn.execute(
            f"""SELECT learner_id, key, status FROM deliveries
            WHERE learner_id IN {_IDS} AND kind = ? AND key IN {_IDS}""",
            (ids, kind, keys),
        )
        if (r[0], r[1]) in wanted
    }


def claim_settled(
    conn: sqlite3.Connection, kind: str, rows: list[tuple[int, str, int | None, str | None, str]], now: datetime
) -> None:
    """The scheduler's (learner, kind, key) claims, each written once with its outcome: (learner, key, lesson, due
    at, status) rows, none of which existed when the write transaction began (deliveries() read them under the
    lock). A row the turn wrote itself meanwhile (a lesson decided one by one, through progress.record_delivery)
    then takes the claim's due instant and outcome, as a claim made first and settled afterwards would have.
    (Not one upsert: ON CONFLICT DO UPDATE makes every insert twice as slow, ~8 µs a row here, conflict or not.)"""
    stamp = now.isoformat()
    written = conn.executemany(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        [(r[0], kind, r[1], r[2], r[3], r[4], stamp) for r in rows],
    ).rowcount
    if written != len(rows):
        conn.executemany(
            "UPDATE deliveries SET lesson_id = ?, due_at = ?, status = ? WHERE learner_id = ? AND kind = ? AND key = ?",
            [(r[2], r[3], r[4], r[0], kind, r[1]) for r in rows],
        )


def count_turns(conn: sqlite3.Connection, ids: list[int]) -> None:
    """learners.next_turn() for many learners: a cached session saved at the previous turn no longer matches."""
    conn.execute(f"UPDATE learners SET turn = turn + 1 WHERE id IN {_IDS}", (json.dumps(ids),))


def record_deliveries(
    conn: sqlite3.Connection,
    rows: list[tuple[int, int, int, int, str | None, str]],
    now: datetime,
    started: Collection[tuple[int, int]] = (),
) -> None:
    """progress.record_delivery() for many (learner, lesson, course, next position, kind, key) rows; kind None: no
    delivery row (the caller writes it, claim_settled). started: (learner, lesson) of these rows whose quiz the same
    turn starts (progress.start_quiz() after record_delivery(), as the daily lesson does on lean days): the progress
    row takes quiz_started_at too, and the lesson's pending follow-up quiz, if any, is cancelled."""
    stamp = now.isoformat()
    # Insert-or-update as two plain statements, each run for every row only when some row needs it: an upsert
    # (ON CONFLICT DO UPDATE) costs about twice a plain INSERT per row even when nothing conflicts. The outcome
    # is the upsert's: the second statement gives rows that were just written the values they have already.
    # A new row is written with its quiz_started_at at once (the instant both upserts give it): one statement a
    # learner instead of two (the tallies' trigger reads neither that column nor, on insert, the order).
    progress = [(r[0], r[1], stamp, stamp if (r[0], r[1]) in started else None) for r in rows]
    if conn.executemany(
        "INSERT INTO progress (learner_id, lesson_id, delivered_at, quiz_started_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (learner_id, lesson_id) DO NOTHING",
        progress,
    ).rowcount != len(progress):
        conn.executemany(
            "UPDATE progress SET delivered_at = ? WHERE learner_id = ? AND lesson_id = ?",
            [(r[2], r[0], r[1]) for r in progress],
        )
        conn.executemany(
            "UPDATE progress SET quiz_started_at = ? WHERE learner_id = ? AND lesson_id = ?",
            [(r[3], r[0], r[1]) for r in progress if r[3] is not None],
        )
    # A learner's enrollment in the course exists already, nearly always: update first (MAX: the upsert again
    # for all, when some were missing, changes nothing it updated).
    if conn.executemany(
        "UPDATE enrollments SET next_position = MAX(next_position, ?) WHERE learner_id = ? AND course_id = ?",
        [(r[3], r[0], r[2]) for r in rows],
    ).rowcount != len(rows):
        conn.executemany(
            """INSERT INTO enrollments (learner_id, course_id, started_at, next_position) VALUES (?, ?, ?, ?)
               ON CONFLICT (learner_id, course_id)
               DO UPDATE SET next_position = MAX(next_position, excluded.next_position)""",
            [(r[0], r[2], stamp, r[3]) for r in rows],
        )
    delivered = [(r[0], r[4], r[5], r[1], stamp, stamp) for r in rows if r[4] is not None]
    if conn.executemany(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, 'done', ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        delivered,
    ).rowcount != len(delivered):
        # The upsert's other half: an 'empty' row (that day's turn wrote nothing) becomes this lesson's; rows just
        # inserted are 'done' already, and a 'done' or 'cancelled' one stays as it is.
        conn.executemany(
            """UPDATE deliveries SET status = 'done', lesson_id = ?
               WHERE learner_id = ? AND kind = ? AND key = ? AND status = 'empty'""",
            [(r[3], r[0], r[1], r[2]) for r in delivered],
        )
    # The learner started the quiz: the 30-minute follow-up would only repeat it (progress.start_quiz).
    conn.executemany(
        """UPDATE deliveries SET status = 'cancelled' WHERE learner_id = ? AND kind = 'quiz_followup'
           AND key = ? AND status = 'pending'""",
        [(learner_id, str(lesson_id)) for learner_id, lesson_id in started],
    )


def hold_lessons(conn: sqlite3.Connection, rows: list[tuple[int, str, int, bool]], now: datetime) -> None:
    """progress.hold_lesson() for many (learner, local date, lesson, nudge) rows: the lesson held for the learner's
    reply, and the nudge sent with it recorded (the silent learner's back-off counts it)."""
    stamp = now.isoformat()
    insert = """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (learner_id, kind, key) DO NOTHING"""
    conn.executemany(insert, [(r[0], HELD, r[1], r[2], stamp, "pending", stamp) for r in rows])
    conn.executemany(insert, [(r[0], NUDGE, r[1], r[2], stamp, "done", stamp) for r in rows if r[3]])


def schedule_many(conn: sqlite3.Connection, rows: list[tuple[int, str, str, int | None, str]], now: datetime) -> None:
    """progress.schedule() for many (learner, kind, key, lesson, due at) rows (insert, then update only if some
    row was there: see record_deliveries)."""
    stamp = now.isoformat()
    if conn.executemany(
        """INSERT INTO deliveries (learner_id, kind, key, lesson_id, due_at, status, created_at)
               VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (learner_id, kind, key) DO NOTHING""",
        [(*r, stamp) for r in rows],
    ).rowcount != len(rows):
        conn.executemany(
            "UPDATE deliveries SET due_at = ?, status = 'pending' WHERE learner_id = ? AND kind = ? AND key = ?",
            [(r[4], r[0], r[1], r[2]) for r in rows],
        )


def existing_keys(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            f"SELECT idempotency_key FROM messages WHERE idempotency_key IN {_IDS}", (json.dumps(keys),)
        )
    }


# enqueue_many writes its rows with one INSERT … SELECT per chunk, not an executemany (one statement per row).
# messages has triggers (costs, active months, sends), so every INSERT keeps a statement journal of the pages it
# changes: a row changes up to ~15 (the table, ten indexes, cost_totals); past the 64 KiB SQLite keeps in memory
# the journal goes to a temporary file, and each later row's statement writes its pages there again. Per row that
# was ~32 µs of 48; one statement per chunk journals a page once per chunk: 17 µs a row, triggers included
# (migration 0031). Chunks are CHUNK rows, then powers of two: a few statement shapes, all in the statement cache.
# (512 rows are 5,123 variables: SQLite allows 32,766 since 3.32; RETURNING, used elsewhere, needs 3.35.)
CHUNK = 512
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _chunks(count: int) -> list[int]:
    """Chunk sizes adding up to `count`: CHUNK as often as it fits, then the rest's powers of two, largest first."""
    sizes = [CHUNK] * (count // CHUNK)
    rest = count % CHUNK
    return sizes + [1 << bit for bit in range(rest.bit_length() - 1, -1, -1) if rest & (1 << bit)]


def enqueue_many(conn: sqlite3.Connection, rows: list[tuple], now: datetime) -> dict[str, int]:
    """Outbox rows (learner, channel, address, body, media JSON, kind, template key, ContentVariables JSON,
    idempotency key, sequence) as store.messages.enqueue_outbound() writes them, in order; returns the new ids by
    key. Proactive rows: the scheduler's turns (quiet hours hold them, STOP cancels them). Each row carries its
    learner's class and course for the Costs page, read from learners in the same statement as the trigger would
    (store.messages.COST_CLASS; migration 0031)."""
    stamp = now.isoformat()
    done = 0
    for size in _chunks(len(rows)):
        chunk = rows[done : done + size]
        done += size
        # WHERE true: without it SQLite reads ON CONFLICT as the join's ON. The LEFT JOIN keeps the VALUES the
        # outer loop, so the rows get their ids in the order given (a message's parts, a learner's messages).
        conn.execute(
            f"""INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, template_key,
                                      content_variables, idempotency_key, status, next_attempt_at, sequence,
                                      proactive, created_at, updated_at, cost_class, cost_course_id)
                SELECT v.column1, 'out', v.column2, v.column3, v.column4, v.column5, v.column6, v.column7,
                       v.column8, v.column9, 'queued', ?, v.column10, 1, ?, ?,
                       COALESCE(l.cohort, ''), COALESCE(l.current_course_id, 0)
                FROM (VALUES {", ".join([_ROW] * size)}) v LEFT JOIN learners l ON l.id = v.column1
                WHERE true
                ON CONFLICT (idempotency_key) DO NOTHING""",
            [stamp, stamp, stamp, *(value for row in chunk for value in row[:10])],
        )
    return {
        r[1]: r[0]
        for r in conn.execute(
            f"SELECT id, idempotency_key FROM messages WHERE idempotency_key IN {_IDS}",
            (json.dumps([r[8] for r in rows]),),
        )
    }
