"""The writer keeps the WAL small by itself (auto-checkpoints are off for the WAL-reset bug)."""

from __future__ import annotations

import os

from coachbox.store import open_database, transaction
from coachbox.store.database import Database


def _write_rows(conn, count: int) -> None:
    with transaction(conn):
        conn.executemany(
            "INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, '2026-03-02')",
            [(f"k{os.urandom(8).hex()}", "x" * 2000) for _ in range(count)],
        )


def test_it_truncates_a_large_wal_from_the_writer_thread(settings):
    open_database(settings.db_path).close()
    db = Database(settings.db_path)
    db.WAL_CHECKPOINT_BYTES = 256 * 1024
    db.CHECK_SECONDS = 0.0
    wal = settings.db_path.with_name(settings.db_path.name + "-wal")
    try:
        db.run_sync(_write_rows, 400)  # ~1 MB of pages: over the threshold, checkpointed right after the job
        assert wal.stat().st_size == 0
        count = db.run_sync(lambda conn: conn.execute("SELECT COUNT(*) FROM box_state").fetchone()[0])
        assert count >= 400
    finally:
        db.close()


def test_it_leaves_a_small_wal_alone(settings):
    open_database(settings.db_path).close()
    db = Database(settings.db_path)
    db.CHECK_SECONDS = 0.0
    wal = settings.db_path.with_name(settings.db_path.name + "-wal")
    try:
        db.run_sync(_write_rows, 5)
        assert 0 < wal.stat().st_size < db.WAL_CHECKPOINT_BYTES
    finally:
        db.close()
