"""Backup figures: `coachbox backup` of a large database while 100 writes/s go on, then restore and verify.

Run: .venv/bin/python bench/backup_bench.py [--size-mb 1024] [--quick]   (--quick = 100 MB)
Prints one JSON object per line. Target (issue 2): the backup completes, restores with integrity ok, and every
write acknowledged before the backup started is in it; writers are not held up meanwhile.
The baselines are a plain file copy of the same database file (what `cp` would take, without consistency) and a
tar.gz of that file (the compression share), measured in the same run on the same disk. Rows are half hex of random bytes (gzip gets ~2:1) and half repetitive
text, so the gzip step is neither flattered nor punished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coachbox import store  # noqa: E402
from coachbox.core.config import Settings  # noqa: E402
from coachbox.ops.backup import backup, restore  # noqa: E402

ROW_BYTES = 4000
BATCH = 2500


def build(db_path: Path, size_mb: int) -> float:
    """Fill the schema's audit_log with ~size_mb of rows, in batched transactions; returns seconds."""
    conn = store.open_database(db_path)
    rows = size_mb * 1024 * 1024 // ROW_BYTES
    started = time.perf_counter()
    filler = "lesson progress " * (ROW_BYTES // 2 // 16)
    for first in range(0, rows, BATCH):
        count = min(BATCH, rows - first)
        with store.transaction(conn):
            conn.execute(
                """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                   INSERT INTO audit_log (action, target, detail, created_at)
                   SELECT 'bulk', hex(randomblob(?)), ?, '2026-01-01T00:00:00+00:00' FROM n""",
                (count, ROW_BYTES // 4, filler),
            )
    store.checkpoint(conn)
    conn.close()
    return time.perf_counter() - started


class Writer(threading.Thread):
    """100 single-row commits per second on its own connection; notes when each was acknowledged."""

    def __init__(self, db_path: Path, per_second: float = 100.0) -> None:
        super().__init__(daemon=True)
        self.db_path, self.interval = db_path, 1.0 / per_second
        self.acked: list[tuple[float, int]] = []
        self.latencies: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = store.connect(self.db_path)
        next_at = time.perf_counter()
        while not self.stop.is_set():
            began = time.perf_counter()
            row_id = conn.execute(
                "INSERT INTO audit_log (action, created_at) VALUES ('tick', ?)", (store.utcnow_iso(),)
            ).lastrowid
            done = time.perf_counter()
            self.acked.append((done, row_id))
            self.latencies.append((began, done - began))
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="a 100 MB database")
    args = parser.parse_args()
    size_mb = 100 if args.quick else args.size_mb
    with tempfile.TemporaryDirectory(prefix="coachbox-backup-bench-") as tmp:
        root = Path(tmp)
        environ = {"COACHBOX_PATHS_DATA_DIR": str(root / "data"), "COACHBOX_LOG_LEVEL": "WARNING"}
        settings = Settings.load(Path(__file__).resolve().parent.parent / "coachbox.toml", environ)
        settings.data_dir.mkdir(parents=True)
        seconds = build(settings.db_path, size_mb)
        db_mb = settings.db_path.stat().st_size / 2**20
        print(json.dumps({"step": "build", "db_mb": round(db_mb, 1), "seconds": round(seconds, 2)}), flush=True)

        started = time.perf_counter()
        shutil.copyfile(settings.db_path, root / "plain-copy.db")
        copy_seconds = time.perf_counter() - started
        (root / "plain-copy.db").unlink()
        print(
            json.dumps(
                {
                    "step": "baseline file copy",
                    "seconds": round(copy_seconds, 2),
                    "mb_per_s": round(db_mb / copy_seconds, 1),
                }
            ),
            flush=True,
        )
        started = time.perf_counter()
        with tarfile.open(root / "plain.tar.gz", "w:gz", compresslevel=3) as tar:  # the level backup() uses
            tar.add(settings.db_path, arcname="coachbox.db")
        gzip_seconds = time.perf_counter() - started
        (root / "plain.tar.gz").unlink()
        print(json.dumps({"step": "baseline tar.gz of the file", "seconds": round(gzip_seconds, 2)}), flush=True)

        writer = Writer(settings.db_path)
        writer.start()
        time.sleep(1.0)
        backup_started = time.perf_counter()
        path = backup(settings)
        backup_ended = time.perf_counter()
        time.sleep(0.5)
        writer.stop.set()
        writer.join()
        backup_seconds = backup_ended - backup_started
        during = [latency for at, latency in writer.latencies if backup_started <= at <= backup_ended]
        writes_during = len(during)
        print(
            json.dumps(
                {
                    "step": "backup while writing",
                    "seconds": round(backup_seconds, 2),
                    "vs_file_copy": round(backup_seconds / copy_seconds, 1),
                    "vs_tar_gz": round(backup_seconds / gzip_seconds, 2),
                    "archive_mb": round(path.stat().st_size / 2**20, 1),
                    "writes_during_backup": writes_during,
                    "writes_per_s_during": round(writes_during / backup_seconds, 1),
                    "max_write_ms_during": round(max(during, default=0) * 1000, 1),
                }
            ),
            flush=True,
        )

        target = settings.replace(paths={"data_dir": str(root / "restored")})
        started = time.perf_counter()
        restore(target, path)
        restore_seconds = time.perf_counter() - started
        conn = sqlite3.connect(target.db_path)
        present = {row[0] for row in conn.execute("SELECT id FROM audit_log WHERE action = 'tick'")}
        integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.close()
        before = {row_id for at, row_id in writer.acked if at < backup_started}
        missing = len(before - present)
        ok = missing == 0 and integrity == "ok"
        print(
            json.dumps(
                {
                    "step": "restore (verify checksums + integrity_check)",
                    "seconds": round(restore_seconds, 2),
                    "acked_before_backup": len(before),
                    "missing": missing,
                    "integrity": integrity,
                    "ok": ok,
                }
            ),
            flush=True,
        )
        return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
