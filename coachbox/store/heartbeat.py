"""The worker's heartbeat: two rows of `box_state` the web process reads for /healthz.

Stored in the main database rather than diskcache: /healthz already asks the database (one primary-key read more
costs nothing), the rows survive a restart of either process, and a worker that cannot write the database is not
alive in any sense that matters (it cannot send a lesson either).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from coachbox.store import transaction

TICK_KEY = "worker.heartbeat.tick"  # the scheduler's last tick: the periodic heartbeat task ran
TASK_KEY = "worker.heartbeat.task"  # the consumer's last finished task (any task)
KEYS = (TICK_KEY, TASK_KEY)


def beat(conn: sqlite3.Connection, key: str, now: datetime) -> None:
    """Record that the worker was alive at `now` (one upsert, its own transaction)."""
    stamp = now.isoformat()
    with transaction(conn):
        conn.execute(
            """INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
            (key, stamp, stamp),
        )


def last_beats(conn: sqlite3.Connection) -> dict[str, datetime]:
    """The recorded heartbeats by key (a key the worker never wrote is absent)."""
    rows = conn.execute(
        f"SELECT key, value FROM box_state WHERE key IN ({', '.join('?' for _ in KEYS)})", KEYS
    ).fetchall()
    return {key: datetime.fromisoformat(value) for key, value in rows}
