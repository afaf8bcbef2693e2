"""Backup while the app writes, and restore's refusals: running instance, existing data, damaged archives; backups
encrypted with age to [backup] recipients, restored with --identity."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from pyrage import x25519

from coachbox import store
from coachbox.core.config import ConfigError, Settings
from coachbox.core.datalock import data_dir_in_use, hold_shared
from coachbox.core.errors import UserError
from coachbox.ops.backup import _EncryptingPipe, backup, prune_backups, restore, write_identity_file
from coachbox.ops.checks import check_backups


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


# -- encrypted backups ([backup] recipients, age) -------------------------------------------------------


def _age_pair(tmp_path: Path, name: str) -> tuple[str, Path]:
    """A fresh age key pair: the public key, and the identity file `coachbox restore --identity` takes."""
    identity = x25519.Identity.generate()
    path = tmp_path / f"{name}.key"
    path.write_text(f"# created: for a test\n# public key: {identity.to_public()}\n{identity}\n")
    return str(identity.to_public()), path


def test_an_encrypted_backup_is_unreadable_without_an_identity_and_restores_with_one(settings, conn, tmp_path):
    conn.execute("INSERT INTO box_state VALUES ('marker', 'learner data', 'x')")
    (settings.data_dir / "media").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "media" / "voice.ogg").write_bytes(b"OggS a learner's voice note")
    first, first_identity = _age_pair(tmp_path, "office")
    second, second_identity = _age_pair(tmp_path, "head-teacher")
    listed = tmp_path / "recipients.txt"
    listed.write_text(f"# the head teacher's laptop\n\n{second}\n")
    encrypting = settings.replace(backup={"recipients": first, "recipients_file": str(listed)})

    path = backup(encrypting)

    assert path.name.startswith("coachbox-backup-") and path.name.endswith(".tar.gz.age")
    raw = path.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1\n") and b"learner data" not in raw and b"OggS" not in raw
    with pytest.raises(tarfile.TarError):
        tarfile.open(path).close()
    target = _elsewhere(settings, tmp_path)
    with pytest.raises(UserError, match=r"is encrypted \(age\): give the identity file .*--identity PATH"):
        restore(target, path)
    _, stranger = _age_pair(tmp_path, "stranger")
    with pytest.raises(UserError, match="cannot open it: it was encrypted to other age keys") as caught:
        restore(target, path, identity=stranger)
    assert "Nothing was changed" in str(caught.value)
    with pytest.raises(UserError, match=r"recipients.txt line 3: not an age identity"):
        restore(target, path, identity=listed)  # public keys are not identities
    assert not target.db_path.exists()

    restore(target, path, identity=second_identity)  # any one of the recipients' identities opens it
    restored = sqlite3.connect(target.db_path)
    assert restored.execute("SELECT value FROM box_state WHERE key = 'marker'").fetchone()[0] == "learner data"
    restored.close()
    assert (target.data_dir / "media" / "voice.ogg").read_bytes() == b"OggS a learner's voice note"
    again = _elsewhere(settings, tmp_path, "again")
    restore(again, path, identity=first_identity)
    assert again.db_path.exists()


def test_an_encrypted_backup_to_a_named_file_gets_the_age_suffix_and_is_pruned_like_the_rest(settings, conn, tmp_path):
    public, _identity = _age_pair(tmp_path, "office")
    encrypting = settings.replace(backup={"recipients": public})
    assert backup(encrypting, tmp_path / "nightly.tar.gz").name == "nightly.tar.gz.age"
    with pytest.raises(UserError, match=r"ends in \.age but backups are not encrypted"):
        backup(settings, tmp_path / "plain.tar.gz.age")
    made = [backup(settings), backup(encrypting), backup(encrypting)]
    for n, path in enumerate(made):
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    assert sorted(prune_backups(settings, keep=1)) == sorted(made[:2])


def test_a_damaged_encrypted_backup_changes_nothing(settings, conn, tmp_path):
    public, identity = _age_pair(tmp_path, "office")
    good = backup(settings.replace(backup={"recipients": public}))
    bad = tmp_path / "cut.tar.gz.age"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    before = _file_hash(settings.db_path)
    with pytest.raises(UserError, match="damaged or not a coachbox backup") as caught:
        restore(settings, bad, force=True, identity=identity)
    assert str(bad) in str(caught.value) and "Nothing was changed" in str(caught.value)
    assert _file_hash(settings.db_path) == before


@pytest.mark.parametrize(
    "backup_settings, message",
    [
        ({"recipients": "age1notakey"}, r"backup\.recipients \(COACHBOX_BACKUP_RECIPIENTS\): 'age1notakey' is not an"),
        ({"recipients": "AGE-SECRET-KEY-1ABC"}, r"backup\.recipients .*that is an age identity \(a private key\)"),
        ({"recipients_file": "missing.txt"}, r"backup\.recipients_file: cannot read .*missing\.txt"),
        ({"recipients_file": "LISTED"}, r"backup\.recipients_file .*recipients\.txt line 2: 'ssh-rsa AAAA' is not"),
    ],
)
def test_a_bad_recipient_is_a_config_error_naming_the_key(settings, conn, tmp_path, backup_settings, message):
    public, _identity = _age_pair(tmp_path, "office")
    listed = tmp_path / "recipients.txt"
    listed.write_text(f"{public}\nssh-rsa AAAA\n")
    if backup_settings.get("recipients_file") == "LISTED":
        backup_settings = {"recipients_file": str(listed)}
    with pytest.raises(ConfigError, match=message):
        backup(settings.replace(backup=backup_settings))
    assert not list((settings.data_dir / "backups").glob("coachbox-backup-*"))


def test_check_warns_while_backups_are_not_encrypted(settings, conn, tmp_path):
    (warning,) = check_backups(settings)
    assert warning.level == "warn" and "NOT encrypted" in warning.what and "--identity" in warning.fix
    backup(settings)  # a plain one from before encryption was switched on
    public, _identity = _age_pair(tmp_path, "office")
    ok, leftover = check_backups(settings.replace(backup={"recipients": public}))
    assert ok.level == "ok" and "encrypted with age to 1 key" in ok.what
    assert leftover.level == "warn" and "1 unencrypted backup" in leftover.what
    (broken,) = check_backups(settings.replace(backup={"recipients": "nope"}))
    assert broken.level == "error" and "backup.recipients" in broken.what


def test_an_identity_made_by_backup_key_opens_what_its_public_key_encrypted(settings, conn, tmp_path):
    key_file = tmp_path / "offsite" / "coachbox-backup.key"
    key_file.parent.mkdir()
    public = write_identity_file(key_file)
    assert public.startswith("age1") and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(UserError, match="already exists"):
        write_identity_file(key_file)  # never overwrites the only key that opens the backups
    path = backup(settings.replace(backup={"recipients": public}))
    restore(_elsewhere(settings, tmp_path), path, identity=key_file)


def test_encrypting_streams_a_large_backup_without_holding_it_in_memory(settings, conn):
    media = settings.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    with open(media / "video.mp4", "wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(1 << 20))  # 48 MB that does not compress
    public = str(x25519.Identity.generate().to_public())
    tracemalloc.start()
    try:
        path = backup(settings.replace(backup={"recipients": public}))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 48 << 20
    assert peak < 8 << 20  # a few 1 MB buffers, never the archive


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_while_encrypting_is_an_os_error_not_a_hang():
    recipient = x25519.Identity.generate().to_public()
    with open("/dev/full", "wb", buffering=0) as full:  # every write fails with ENOSPC, as on a full disk
        pipe = _EncryptingPipe(full, [recipient])
        with pytest.raises(OSError, match="No space left on device"):
            for _ in range(64):
                pipe.write(b"x" * (1 << 20))  # more than the pipe and its buffers hold
            pipe.close()
        with pytest.raises(OSError):
            pipe.close()  # closing again reports the same failure
