"""The queue database (data/queue.db) as a file: is it readable SQLite, moving a broken one aside, and the record of
that in box_state.

queue.db only holds Huey's pending tasks: the outbox, the schedule columns and job_runs in coachbox.db are the
truth, and the periodic tasks rescan them, so a broken queue can be replaced by an empty one without losing
learner data (docs/operations.md, "What can be deleted safely").
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path

SIDE_FILES = ("-wal", "-shm", "-journal")
RECOVERY_KEY = "queue.recovered"  # box_state: the last time a broken queue.db was moved aside (JSON)
SQLITE_MAGIC = b"SQLite format 3\x00"


def problem(path: Path, *, read_only: bool = False) -> str | None:
    """Why `path` is not a usable SQLite database, or None (also when it does not exist yet or is empty).

    Reads the header, then runs `PRAGMA quick_check` (O(pages), fine for a queue of pending tasks). A database
    locked by another process is not broken: None. `read_only` opens it without writing anything (`coachbox
    check`); otherwise SQLite may replay a -wal left by a crash, as Huey would.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    if size == 0:
        return None  # an empty file is an empty database: Huey creates its tables in it
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    if head != SQLITE_MAGIC:
        return "it is not an SQLite database (its header is damaged)"
    mode = "ro" if read_only else "rw"
    try:
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=2)
    except sqlite3.Error as exc:
        return f"cannot open it ({exc})"
    try:
        rows = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None
        return f"cannot read it ({exc})"
    except sqlite3.DatabaseError as exc:
        return f"it is corrupt ({exc})"
    finally:
        conn.close()
    if rows != ["ok"]:
        first = [line for line in str(rows[0]).splitlines() if not line.startswith("***")][:1] or [str(rows[0])]
        return f"it is corrupt (quick_check: {first[0][:200]})"
    return None


def move_aside(path: Path, now: datetime) -> Path:
    """Rename queue.db (and its -wal, -shm) to queue.db.corrupt-<UTC time>[-wal|-shm]; returns the new name."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    for suffix in SIDE_FILES:  # the -wal belongs to the broken file: never replay it into the new one
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return target


def record_recovery(conn: sqlite3.Connection, *, at: datetime, reason: str, moved_to: Path) -> None:
    value = json.dumps({"at": at.isoformat(), "reason": reason, "moved_to": moved_to.name})
    conn.execute(
        """INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
        (RECOVERY_KEY, value, at.isoformat()),
    )


def last_recovery(conn: sqlite3.Connection) -> dict | None:
    """{'at', 'reason', 'moved_to'} of the last time a broken queue.db was replaced, or None."""
    row = conn.execute("SELECT value FROM box_state WHERE key = ?", (RECOVERY_KEY,)).fetchone()
    if row is None:
        return None
    try:
        found = json.loads(row[0])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
