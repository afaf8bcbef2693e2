"""Migrations (fresh and upgrade) and the WAL-reset mitigation: no auto-checkpoints, TRUNCATE checkpoints only."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

from coachbox import store
from coachbox.cli import main as cli
from coachbox.jobs.queue import create_huey
from coachbox.store.database import Database


def _all_names() -> list[str]:
    return [m.name for m in store.migrations().pending(sqlite_utils.Database(memory=True))]


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '_sqlite_migrations%' ORDER BY type, name"
    ).fetchall()


def test_it_applies_every_migration_to_a_fresh_database_and_records_it(tmp_path):
    conn = store.connect(tmp_path / "fresh.db")
    assert store.migrate(conn) == _all_names()
    assert store.applied_migrations(conn) == _all_names()
    assert _all_names()[0] == "0001_initial" and _all_names() == sorted(_all_names())
    assert store.migrate(conn) == []  # a second run is a no-op
    conn.close()


def test_it_upgrades_an_old_database_and_keeps_its_rows(tmp_path):
    names = _all_names()
    old = store.connect(tmp_path / "old.db")
    store.migrations().apply(sqlite_utils.Database(old), stop_before=names[1])
    assert store.applied_migrations(old) == ["0001_initial"]
    old.execute("INSERT INTO learners (channel_key, created_at, updated_at) VALUES ('sim:+254700000001', 'x', 'x')")
    old.execute("INSERT INTO admins (email, role, created_at) VALUES ('alice@school.org', 'owner', 'x')")

    assert store.migrate(old) == names[1:]
    assert store.applied_migrations(old) == names
    assert old.execute("SELECT channel_key FROM learners").fetchone()[0] == "sim:+254700000001"
    assert old.execute("SELECT email FROM admins").fetchone()[0] == "alice@school.org"
    assert store.migrate(old) == []

    fresh = store.connect(tmp_path / "fresh.db")
    store.migrate(fresh)
    assert _schema(old) == _schema(fresh)  # an upgraded box ends with exactly the schema of a new one
    assert old.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_it_turns_off_auto_checkpoints_on_every_connection(settings, conn):
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer = Database(settings.db_path)
    try:
        assert writer.run_sync(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
    finally:
        writer.close()
    queue_conn = create_huey(settings).storage.conn
    assert queue_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0


def test_it_truncates_the_wal_only_when_checkpoint_runs(settings, conn):
    wal = Path(str(settings.db_path) + "-wal")
    with store.transaction(conn):
        conn.executemany("INSERT INTO box_state VALUES (?, 'x', 'x')", [(f"k{i}",) for i in range(3000)])
    other = store.connect(settings.db_path)  # a second connection commits too: still no automatic checkpoint
    for i in range(200):
        other.execute("INSERT INTO box_state VALUES (?, 'y', 'y')", (f"o{i}",))
    assert wal.stat().st_size > 1000 * 4096 // 8
    busy, pages, done = store.checkpoint(conn)
    assert busy == 0 and pages == done == 0  # TRUNCATE leaves an empty WAL behind
    assert wal.stat().st_size == 0
    assert other.execute("SELECT COUNT(*) FROM box_state").fetchone()[0] >= 3200
    other.close()


def test_it_does_not_stall_writers_when_a_reader_blocks_the_checkpoint(settings, conn):
    reader = store.connect(settings.db_path)  # a backup holds a snapshot like this for its whole run
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM box_state").fetchone()
    writer = store.connect(settings.db_path)
    writer.execute("INSERT INTO box_state VALUES ('after-snapshot', 'x', 'x')")
    result: dict = {}

    def run_checkpoint() -> None:
        result["checkpoint"] = store.checkpoint(conn)

    thread = threading.Thread(target=run_checkpoint)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    writer.execute("INSERT INTO box_state VALUES ('during-checkpoint', 'x', 'x')")
    waited = time.monotonic() - started
    thread.join()
    assert waited < 1.0  # not the 30 s busy timeout
    assert result["checkpoint"][0] == 1  # busy: the next periodic run retries
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    reader.execute("COMMIT")
    assert store.checkpoint(conn)[0] == 0
    reader.close()
    writer.close()


def test_it_reports_the_sqlite_version_and_the_wal_bug_in_check(settings, monkeypatch, capsys):
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COACHBOX_PATHS_CONTENT_DIR", str(settings.content_dir))
    cli.main(["--config", str(Path(settings.root) / "coachbox.toml"), "check"])
    out = capsys.readouterr().out
    assert f"SQLite {sqlite3.sqlite_version}" in out
    expected = "inside the WAL-reset bug range" if store.wal_reset_bug_affected() else "not affected"
    assert expected in out


def test_it_knows_which_sqlite_versions_carry_the_wal_reset_bug():
    assert store.wal_reset_bug_affected((3, 40, 1))
    assert store.wal_reset_bug_affected((3, 51, 2))
    assert not store.wal_reset_bug_affected((3, 51, 3))
    assert not store.wal_reset_bug_affected((3, 50, 7)) and store.wal_reset_bug_affected((3, 50, 6))
    assert not store.wal_reset_bug_affected((3, 44, 6)) and store.wal_reset_bug_affected((3, 44, 5))
    assert not store.wal_reset_bug_affected((3, 6, 23))
