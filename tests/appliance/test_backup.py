"""Backup while the app writes, and restore's refusals: running instance, existing data, damaged archives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import threading
import time
from pathlib import Path

import pytest

from coachbox import store
from coachbox.core.config import Settings
from coachbox.core.datalock import data_dir_in_use, hold_shared
from coachbox.core.errors import UserError
from coachbox.ops.backup import backup, prune_backups, restore


def _elsewhere(settings: Settings, tmp_path: Path, name: str = "restored") -> Settings:
    return settings.replace(paths={"data_dir": str(tmp_path / name)})


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Writer(threading.Thread):
    """Commits one audit_log row every 10 ms (100/s) on its own connection, noting each id once committed."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(daemon=True)
        self.db_path = db_path
        self.acked: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = store.connect(self.db_path)
        while not self.stop.is_set():
            cursor = conn.execute(
                "INSERT INTO audit_log (action, created_at) VALUES ('tick', ?)", (store.utcnow_iso(),)
            )
            self.acked.append((time.monotonic(), cursor.lastrowid))
            time.sleep(0.01)
        conn.close()


def test_it_keeps_every_row_committed_before_the_backup_while_writes_go_on(settings, conn, tmp_path):
    with store.transaction(conn):
        conn.executemany(
            "INSERT INTO audit_log (action, detail, created_at) VALUES ('seed', ?, 'x')", [("x" * 2000,)] * 5000
        )  # ~10 MB, so the copy takes many backup steps
    (settings.data_dir / "media" / "lesson.jpg").parent.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "media" / "lesson.jpg").write_bytes(b"\xff\xd8 jpeg")
    (settings.data_dir / "cache").mkdir(exist_ok=True)
    (settings.data_dir / "cache" / "junk").write_text("not backed up")
    writer = _Writer(settings.db_path)
    writer.start()
    time.sleep(0.3)
    started = time.monotonic()
    steps: list[tuple[str, int, int]] = []
    path = backup(settings, progress=lambda label, done, total: steps.append((label, done, total)))
    time.sleep(0.1)
    writer.stop.set()
    writer.join()

    before = {row_id for at, row_id in writer.acked if at < started}
    assert len(before) > 10 and len(writer.acked) > len(before)  # writes went on during the backup
    assert path.parent == settings.data_dir / "backups" and path.name.startswith("coachbox-backup-")
    assert any(label == "backup coachbox.db" and done == total for label, done, total in steps)

    target = _elsewhere(settings, tmp_path)
    restore(target, path)
    restored = sqlite3.connect(target.db_path)
    assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = {row[0] for row in restored.execute("SELECT id FROM audit_log WHERE action = 'tick'")}
    assert before <= ids
    assert restored.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'seed'").fetchone()[0] == 5000
    restored.close()
    assert (target.data_dir / "media" / "lesson.jpg").read_bytes() == b"\xff\xd8 jpeg"
    assert not (target.data_dir / "cache" / "junk").exists()


def test_it_writes_a_manifest_with_checksums_and_migrations(settings, conn, tmp_path):
    path = backup(settings, tmp_path / "out")
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        db_bytes = tar.extractfile("coachbox.db").read()
    assert manifest["migrations"] == store.applied_migrations(conn)
    assert manifest["sqlite_version"] == sqlite3.sqlite_version
    assert manifest["files"]["coachbox.db"]["sha256"] == hashlib.sha256(db_bytes).hexdigest()
    assert not list((tmp_path / "out").glob("*.partial")) and not list((tmp_path / "out").glob(".backup-*"))


def test_it_refuses_to_restore_over_a_running_instance(settings, conn, tmp_path):
    path = backup(settings)
    target = _elsewhere(settings, tmp_path)
    lock = hold_shared(target)  # what `coachbox serve` / `coachbox worker` hold while they run
    try:
        assert data_dir_in_use(target)
        with pytest.raises(UserError, match="running"):
            restore(target, path, force=True)
    finally:
        lock.close()
    assert not data_dir_in_use(target)
    assert not target.db_path.exists()


def test_it_refuses_to_replace_data_without_force_and_keeps_it_aside_with_force(settings, conn, tmp_path):
    conn.execute("INSERT INTO box_state VALUES ('marker', 'old', 'x')")
    path = backup(settings)
    conn.execute("UPDATE box_state SET value = 'new' WHERE key = 'marker'")
    before = _file_hash(settings.db_path)
    with pytest.raises(UserError, match="--force"):
        restore(settings, path)
    assert _file_hash(settings.db_path) == before
    conn.close()

    restore(settings, path, force=True)
    fresh = sqlite3.connect(settings.db_path)
    assert fresh.execute("SELECT value FROM box_state WHERE key = 'marker'").fetchone()[0] == "old"
    fresh.close()
    (aside,) = (settings.data_dir / "backups").glob("pre-restore-*")
    kept = sqlite3.connect(aside / "coachbox.db")  # its -wal came along, so the last write is there
    assert kept.execute("SELECT value FROM box_state WHERE key = 'marker'").fetchone()[0] == "new"
    kept.close()


def _members(src: Path) -> dict[str, bytes]:
    with tarfile.open(src) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _pack(dest: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def _rewrite(src: Path, dest: Path, change) -> Path:
    """Copy a backup archive, letting `change(name, data)` alter a member or drop it (None)."""
    changed = {name: change(name, data) for name, data in _members(src).items()}
    return _pack(dest, {name: data for name, data in changed.items() if data is not None})


def _add_member(src: Path, dest: Path, name: str, data: bytes) -> Path:
    """Add a member AND list it in the manifest with the right checksum: only the path can give it away."""
    members = _members(src)
    members["manifest.json"] = _fix_manifest(members["manifest.json"], name, data)
    members[name] = data
    return _pack(dest, members)


def _flip_byte(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


@pytest.mark.parametrize(
    "damage, message",
    [
        ("random", "damaged or not a coachbox backup"),
        ("truncated", "damaged or not a coachbox backup"),
        ("tampered", "does not match its checksum"),
        ("no-manifest", "no manifest.json"),
        ("traversal", "unexpected entry '../evil.db'"),
        ("absolute", "unexpected entry '/etc/cron.d/x'"),
        ("corrupt-db", "coachbox.db in it"),
        ("manifest-is-a-folder", "manifest.json is not a file"),
        ("db-is-a-folder", "coachbox.db is not in both the archive and its manifest"),
    ],
)
def test_it_rejects_a_damaged_backup_and_changes_nothing(settings, conn, tmp_path, damage, message):
    conn.execute("INSERT INTO box_state VALUES ('marker', 'kept', 'x')")
    good = backup(settings)
    bad = tmp_path / f"{damage}.tar.gz"
    if damage == "random":
        bad.write_bytes(b"this is not a tarball at all" * 100)
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "tampered":
        _rewrite(good, bad, lambda name, data: _flip_byte(data, 5000) if name == "coachbox.db" else data)
    elif damage == "no-manifest":
        _rewrite(good, bad, lambda name, data: None if name == "manifest.json" else data)
    elif damage == "traversal":
        _add_member(good, bad, "../evil.db", b"x")
    elif damage == "absolute":
        _add_member(good, bad, "/etc/cron.d/x", b"x")
    elif damage == "corrupt-db":

        def corrupt(name: str, data: bytes) -> bytes:  # damage a page AND fix the checksum: only SQLite can tell
            if name == "coachbox.db":
                return data[:4096] + b"\x00\x07garbage" * 2000 + data[4096 + 18000 :]
            return data

        members = _members(good)
        members["coachbox.db"] = corrupt("coachbox.db", members["coachbox.db"])
        members["manifest.json"] = _fix_manifest(members["manifest.json"], "coachbox.db", members["coachbox.db"])
        _pack(bad, members)
    elif damage in ("manifest-is-a-folder", "db-is-a-folder"):
        # A directory entry under a file's name: tarfile gives no reader for it (this crashed restore before).
        folder = "manifest.json" if damage == "manifest-is-a-folder" else "coachbox.db"
        members = _members(good)
        with tarfile.open(bad, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                if name == folder:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    target_db = settings.db_path
    before = _file_hash(target_db)
    listing = _listing(settings)
    with pytest.raises(UserError, match=message) as caught:
        restore(settings, bad, force=True)
    assert str(bad) in str(caught.value) and "Nothing was changed" in str(caught.value)
    assert _file_hash(target_db) == before
    assert _listing(settings) == listing
    assert not (tmp_path / "evil.db").exists() and not (settings.data_dir.parent / "evil.db").exists()


def _listing(settings: Settings) -> list[str]:
    """Every path under data/, except the lock file restore creates to keep servers out."""
    return sorted(
        str(p.relative_to(settings.data_dir)) for p in settings.data_dir.rglob("*") if p.name != ".coachbox.lock"
    )


def _fix_manifest(body: bytes, name: str, data: bytes) -> bytes:
    manifest = json.loads(body)
    manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return json.dumps(manifest).encode()


def test_it_keeps_only_the_newest_backups_when_pruning(settings, conn):
    folder = settings.data_dir / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(5):
        path = folder / f"coachbox-backup-2026010{n}-000000.tar.gz"
        path.write_bytes(b"x")
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    (folder / "pre-restore-20260101-000000").mkdir()
    deleted = prune_backups(settings, keep=2)
    assert sorted(p.name for p in deleted) == [f"coachbox-backup-2026010{n}-000000.tar.gz" for n in range(3)]
    assert sorted(p.name for p in folder.iterdir()) == [
        "coachbox-backup-20260103-000000.tar.gz",
        "coachbox-backup-20260104-000000.tar.gz",
        "pre-restore-20260101-000000",
    ]
