"""SQLite access: connections with the house pragmas, write transactions, migrations and checkpoints."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from coachbox.core.errors import UserError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_SET = "coachbox"

# SQLite 3.7.0–3.51.2 carry the WAL-reset bug (https://sqlite.org/wal.html#walresetbug): a checkpoint that
# races a writer in another connection can corrupt the database. Our mitigation: no connection ever
# auto-checkpoints (PASSIVE checkpoints run without the writer lock), and the only checkpoints are
# TRUNCATE checkpoints from `checkpoint()`, which hold the exclusive writer lock while they run, so no
# write can race them. Versions outside the range keep the same settings: they are harmless there.
WAL_RESET_FIXED = ((3, 51, 3), (3, 50, 7), (3, 44, 6))


def wal_reset_bug_affected(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> bool:
    """Is this SQLite version inside the WAL-reset bug range?"""
    if version < (3, 7, 0) or version >= (3, 51, 3):
        return False
    for fixed in WAL_RESET_FIXED[1:]:
        if version[:2] == fixed[:2] and version >= fixed:
            return False
    return True


def utcnow_iso() -> str:
    """Now in UTC as stored text; only for edges that have no clock object (CLI, migrations)."""
    return datetime.now(UTC).isoformat()


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row the cursor's INSERT just wrote (sqlite3 types lastrowid as int | None)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("the statement inserted no row")
    return rowid


def connect(path: str | Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL, foreign keys and a busy timeout."""
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    apply_pragmas(conn)
    return conn


# The pragmas every coachbox connection runs with (the writer thread, the worker, the CLI and read connections).
PRAGMA_SQL = (
    "PRAGMA journal_mode=WAL",
    # Durable across app crashes; WAL + NORMAL may lose only the last commits on power loss.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA wal_autocheckpoint=0",  # see WAL_RESET_FIXED above
    # Deleted rows are overwritten with zeros, so an erased learner's number and words do not linger in free pages
    # (and from there reach backups). Measured on this box: no difference on a commit-per-row loop (issue 18).
    "PRAGMA secure_delete=ON",
)


def apply_pragmas(conn: sqlite3.Connection) -> None:
    for statement in PRAGMA_SQL:
        conn.execute(statement)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (or ROLLBACK on error): take the write lock up front, never upgrade later."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def checkpoint(conn: sqlite3.Connection, *, wait_ms: int = 250) -> tuple[int, int, int]:
    """TRUNCATE checkpoint: holds the writer lock, so it cannot race a write (the WAL-reset bug).

    While it holds that lock it also waits for readers of older snapshots (a running `coachbox backup`), and
    with the usual 30 s busy timeout every write would stall that long. So it waits at most `wait_ms` and
    reports busy instead; the next periodic run tries again.
    """
    previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(previous)}")
    return tuple(row)  # (busy, wal pages, checkpointed pages)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.executescript would COMMIT our transaction)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if not current and (not line.strip() or line.strip().startswith("--")):
            continue
        current.append(line)
        candidate = "\n".join(current)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate)
            current = []
    if current and "\n".join(current).strip():
        raise ValueError("migration script ends with an incomplete statement")
    return statements


def migrations() -> sqlite_utils.Migrations:
    """The named migrations, one per NNNN_what_changes.sql file, applied in order."""
    registry = sqlite_utils.Migrations(MIGRATION_SET)
    for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        statements = _split_sql(path.read_text(encoding="utf-8"))

        def apply(db: sqlite_utils.Database, statements: list[str] = statements) -> None:
            for statement in statements:
                db.execute(statement)

        registry(name=path.stem)(apply)
    return registry


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied (each in its own transaction with its record)."""
    db = sqlite_utils.Database(conn)
    registry = migrations()
    pending = [m.name for m in registry.pending(db)]
    registry.apply(db)
    return pending


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    return [m.name for m in migrations().applied(sqlite_utils.Database(conn))]


def open_database(path: str | Path) -> sqlite3.Connection:
    """Connect and bring the schema up to date: what every process does first."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    migrate(conn)
    return conn


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A connection for a command that only reads (`coachbox jobs`, `coachbox export`): it creates nothing (no data
    folder, no database, no -wal/-shm beside it), migrates nothing, and says what to do when there is nothing
    to read yet."""
    db = Path(path)
    if not db.is_file():
        raise UserError(f"no database yet ({db}): run `coachbox init`")
    # With no -wal file beside it, nobody has the database open and every change is in the main file: immutable
    # reads it without the -shm a read-only WAL connection would otherwise create. With one, the box is running
    # (or stopped mid-write): a plain read-only connection sees its latest commits.
    idle = not Path(f"{db}-wal").exists()
    uri = db.resolve().as_uri() + ("?immutable=1" if idle else "?mode=ro")
    conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        pending = [m.name for m in migrations().pending(sqlite_utils.Database(conn))]
    except sqlite3.Error:
        pending = ["?"]
    if pending:
        conn.close()
        raise UserError(f"the database ({db}) is not up to date with this version: run `coachbox init`")
    return conn
