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


def test_checkpoints_are_spaced_by_what_the_last_one_took(settings):
    """After a checkpoint that took t, the next waits CHECKPOINT_SPACING x t (issue #15): under a flood checkpoints
    hold the write lock at most ~1/10 of the time and grow, instead of copying the same hot pages ten times a
    second; on a calmer box they stay small and frequent."""
    import time

    open_database(settings.db_path).close()
    db = Database(settings.db_path)
    db.WAL_CHECKPOINT_BYTES = 256 * 1024
    db.CHECK_SECONDS = 0.0
    db.CHECKPOINT_SPACING = 1000.0  # so the spacing shows plainly against a checkpoint of a few milliseconds
    wal = settings.db_path.with_name(settings.db_path.name + "-wal")
    try:
        before = time.monotonic()
        db.run_sync(_write_rows, 400)  # over the threshold: checkpointed right after the job
        assert wal.stat().st_size == 0
        spaced = db._next_check - time.monotonic()
        assert spaced > 0.05, "the next check waits a thousand times the checkpoint's own time"
        assert spaced <= 1000.0 * (time.monotonic() - before)
        db.run_sync(_write_rows, 400)  # over the threshold again, but within the spacing: left for later
        assert wal.stat().st_size > db.WAL_CHECKPOINT_BYTES
    finally:
        db.close()


def test_a_box_whose_writes_all_run_inline_still_checkpoints(settings):
    """A quiet box writes inline on the event loop (Database.write): the WAL check goes to the writer thread every
    CHECK_SECONDS. Before the sixth stop of issue #15 that job asked "is it time?" again, just after the inline write
    had answered "not yet", so it never checkpointed: the WAL of 300 inline writes reached 30 MB at a 256 KB
    threshold."""
    import asyncio

    open_database(settings.db_path).close()
    db = Database(settings.db_path)
    db.WAL_CHECKPOINT_BYTES = 256 * 1024
    db.CHECK_SECONDS = 0.01
    wal = settings.db_path.with_name(settings.db_path.name + "-wal")

    def write(conn) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO box_state (key, value, updated_at) VALUES (?, ?, '2026-03-02')",
            [(f"k{os.urandom(8).hex()}", "x" * 2000) for _ in range(20)],
        )
        conn.execute("COMMIT")

    sizes: list[int] = []

    async def quiet_box() -> None:
        for _ in range(100):
            await db.write(write)
            await asyncio.sleep(0.02)  # past CHECK_SECONDS: each write asks for a check
            # Let the check the write sent finish on the writer thread: on a busy machine a checkpoint can outlast
            # the 20 ms, and the next write would then (rightly) go to the writer instead of running inline.
            await asyncio.wrap_future(db._executor.submit(lambda: None))
            sizes.append(wal.stat().st_size)

    try:
        asyncio.run(quiet_box())
        assert db.inline_writes == 100 and db.queued_writes == 0
        # ~5 MB written in all (~54 KB a write), past the threshold every five writes: the WAL is truncated again and
        # again (without the fix, never). How often depends on the machine: after a checkpoint that took t, the next
        # waits CHECKPOINT_SPACING x t (under CI load one took long enough for the WAL to reach 1 MB in between).
        truncated = sum(1 for before, after in zip(sizes, sizes[1:]) if after < before)
        assert truncated >= 3, sizes
    finally:
        db.close()
