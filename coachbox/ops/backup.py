"""`coachbox backup` and `coachbox restore`: a consistent .tar.gz of data/ taken while the app runs (age-encrypted to
[backup] recipients when set), and its safe return."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import pyrage
import sqlite_utils
from pyrage import x25519

from coachbox import __version__, store
from coachbox.core.config import ConfigError, Settings
from coachbox.core.datalock import data_dir_in_use, exclusive
from coachbox.core.disk import MB, disk_space
from coachbox.core.errors import UserError

Progress = Callable[[str, int, int], None]

DATABASES = ("coachbox.db", "queue.db")
FOLDERS = ("media", "certificates")  # cache/, logs/ and backups/ are not part of a backup
MANIFEST = "manifest.json"
FORMAT = 1
BACKUP_GLOB = "coachbox-backup-*"
SUFFIXES = (".tar.gz", ".tar.gz.age")  # plain, and encrypted with age
ENCRYPTED_SUFFIX = ".age"
AGE_MAGIC = (b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----")  # binary and armored age files
LEGACY_KEY_ROW = "secret_key"  # store.secret_key.LEGACY_ROW: an old box's signing key, never put in a backup
_CHUNK = 1 << 20


# -- encryption --------------------------------------------------------------------------------------


def backup_recipients(settings: Settings) -> list[x25519.Recipient]:
    """The age public keys backups are encrypted to ([backup] recipients and recipients_file); [] = plain backups.
    ConfigError naming the key for anything that is not an age public key."""
    found = [
        _recipient(text.strip(), "backup.recipients (COACHBOX_BACKUP_RECIPIENTS)")
        for text in settings.backup.recipients.split(",")
        if text.strip()
    ]
    if settings.backup.recipients_file:
        path = settings.resolve(settings.backup.recipients_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"backup.recipients_file: cannot read {path} ({reason}). Fix the path (relative to coachbox.toml) "
                "or its permissions, or set [backup] recipients instead."
            ) from None
        keys = [
            _recipient(line.strip(), f"backup.recipients_file {path} line {number}")
            for number, line in enumerate(lines, 1)
            if line.strip() and not line.strip().startswith("#")
        ]
        if not keys:
            raise ConfigError(
                f"backup.recipients_file: {path} holds no age public key. Put one age1… key per line in it."
            )
        found += keys
    return found


def _recipient(text: str, where: str) -> x25519.Recipient:
    if text.upper().startswith("AGE-SECRET-KEY-"):
        raise ConfigError(
            f"{where}: that is an age identity (a private key), not a public key. Put only its public key (age1…, "
            "which `age-keygen -y` prints) here, keep the identity off this box, and treat this one as leaked."
        )
    try:
        return x25519.Recipient.from_str(text)
    except (pyrage.RecipientError, ValueError) as exc:
        shown = text if len(text) <= 24 else text[:20] + "…"
        raise ConfigError(
            f"{where}: {shown!r} is not an age public key ({exc}). Write keys like age1… (from `age-keygen` or "
            "`coachbox backup-key FILE`), separated by commas."
        ) from None


def is_encrypted(path: Path) -> bool:
    """Whether `path` is an age file (by its first bytes, whatever its name)."""
    with open(path, "rb") as handle:
        return handle.read(len(AGE_MAGIC[1])).startswith(AGE_MAGIC)


def read_identities(path: Path) -> list[x25519.Identity]:
    """The age identities (AGE-SECRET-KEY-1…) in an identity file, as `age-keygen -o` writes it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"--identity {path}: cannot read it ({reason}). Nothing was changed.") from None
    found = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            found.append(x25519.Identity.from_str(text))
        except (pyrage.IdentityError, ValueError):
            raise UserError(
                f"--identity {path} line {number}: not an age identity (expected AGE-SECRET-KEY-1…, the file "
                "`age-keygen -o` or `coachbox backup-key` wrote; not the age1… public key). Nothing was changed."
            ) from None
    if not found:
        raise UserError(f"--identity {path}: it holds no AGE-SECRET-KEY-1… line. Nothing was changed.")
    return found


def write_identity_file(path: Path) -> str:
    """Generate an age identity into a new file `path` (0600), as `age-keygen -o` does; returns its public key."""
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    created = datetime.now(UTC).isoformat(timespec="seconds")
    text = f"# created: {created} by coachbox backup-key\n# public key: {public}\n{identity}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(
            f"{path} already exists: choose another file name (an identity is never overwritten)."
        ) from None
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}). Choose another place.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return public


class _EncryptingPipe:
    """A write-only stream whose bytes a thread encrypts with age into `out` as they come: a backup is never held
    whole in memory, and its plain text never touches the disk."""

    def __init__(self, out: IO[bytes], recipients: list[x25519.Recipient]) -> None:
        read_fd, write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb", buffering=_CHUNK)
        self._writer = os.fdopen(write_fd, "wb", buffering=_CHUNK)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(out, recipients), name="backup-encrypt", daemon=True)
        self._thread.start()

    def _run(self, out: IO[bytes], recipients: list[x25519.Recipient]) -> None:
        try:
            pyrage.encrypt_io(self._reader, out, recipients)
        except pyrage.EncryptError as exc:  # e.g. "OSError: [Errno 28] No space left on device" from `out`
            self._error = OSError(f"encrypting: {exc}")
        except BaseException as exc:  # noqa: BLE001 - handed to the writing thread in close()
            self._error = exc
        finally:
            self._reader.close()  # a writer still writing gets BrokenPipeError instead of waiting forever

    def write(self, data: bytes) -> int:
        try:
            return self._writer.write(data)
        except BrokenPipeError:
            self._thread.join()
            raise self._error or OSError("the encrypting thread stopped") from None

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        """End the stream and wait for the encryption to finish; raises what it failed with."""
        try:
            self._writer.close()
        except BrokenPipeError:
            pass
        self._thread.join()
        if self._error is not None:
            raise self._error


# -- backup ------------------------------------------------------------------------------------------


def backup(settings: Settings, dest: Path | None = None, progress: Progress | None = None) -> Path:
    """Write coachbox-backup-YYYYmmdd-HHMMSS.tar.gz (UTC) into data/backups/ or DEST, as .tar.gz.age encrypted to
    [backup] recipients when there are any; returns its path."""
    if not settings.db_path.exists():
        raise UserError(
            f"{settings.db_path} does not exist: nothing to back up. Run `coachbox init` first, "
            "or check [paths] data_dir / COACHBOX_PATHS_DATA_DIR."
        )
    recipients = backup_recipients(settings)
    target = _target_path(settings, dest, encrypted=bool(recipients))
    _refuse_to_fill_the_disk(settings, target.parent)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.TemporaryDirectory(prefix=".backup-", dir=target.parent)
    except OSError as exc:
        raise UserError(
            f"cannot write a backup into {target.parent} ({exc.strerror}). "
            "Choose another folder, or fix its permissions."
        ) from None
    partial = target.with_name(target.name + ".partial")
    try:
        with staging as tmp:
            manifest = _manifest()
            members: list[tuple[str, Path]] = []
            for name in DATABASES:
                source = settings.data_dir / name
                if source.exists():
                    copy = Path(tmp) / name
                    applied = _snapshot(source, copy, progress)
                    if name == "coachbox.db":
                        manifest["migrations"] = applied
                    members.append((name, copy))
            for folder in FOLDERS:
                members += sorted(_walk(settings.data_dir, folder))
            _write_archive(partial, members, manifest, progress, recipients)
            os.replace(partial, target)  # readers never see a half-written archive
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(
            f"backup to {target} failed ({exc.strerror or exc}). Check free disk space and try again."
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def estimated_bytes(settings: Settings) -> int:
    """What a backup may write at most: each database copied into staging, then the archive (at most as large as
    what goes in, uncompressed)."""
    data = settings.data_dir
    databases = sum(
        (data / f"{name}{suffix}").stat().st_size
        for name in DATABASES
        for suffix in ("", "-wal")
        if (data / f"{name}{suffix}").is_file()
    )
    folders = 0
    for folder in FOLDERS:
        for _name, path in _walk(data, folder):
            try:
                folders += path.stat().st_size
            except OSError:
                continue
    return 2 * databases + folders


def _refuse_to_fill_the_disk(settings: Settings, folder: Path) -> None:
    """Refuse before writing anything when the backup could leave less than [server] min_free_disk_mb free on the
    data folder's disk (or fill another disk DEST is on): a full disk makes every webhook fail."""
    try:
        space = disk_space(folder, cached=False)
        same_disk = os.stat(space.path).st_dev == os.stat(disk_space(settings.data_dir, cached=False).path).st_dev
    except OSError:
        return  # the write itself reports an unusable folder
    floor = max(settings.server.min_free_disk_mb, 0) * MB if same_disk else 0
    need = estimated_bytes(settings)
    if space.free_bytes - need < floor:
        keep = f", and {floor // MB:,} MB must stay free there ([server] min_free_disk_mb)" if floor else ""
        raise UserError(
            f"backup not started: it needs up to {need / MB:,.1f} MB in {folder}, whose disk has "
            f"{space.free_bytes / MB:,.1f} MB free{keep}. Free space (old archives in data/backups/, data/cache/) "
            "or write the backup to another disk: `coachbox backup /path/on/another/disk`."
        )


def _target_path(settings: Settings, dest: Path | None, *, encrypted: bool) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = SUFFIXES[1] if encrypted else SUFFIXES[0]
    name = f"coachbox-backup-{stamp}{suffix}"
    if dest is not None and dest.name.endswith(SUFFIXES) and not dest.is_dir():
        if dest.name.endswith(ENCRYPTED_SUFFIX) and not encrypted:
            raise UserError(
                f"{dest}: the name ends in .age but backups are not encrypted (no [backup] recipients). Set "
                "[backup] recipients / COACHBOX_BACKUP_RECIPIENTS, or name the file ….tar.gz."
            )
        if encrypted and not dest.name.endswith(ENCRYPTED_SUFFIX):
            dest = dest.with_name(dest.name + ENCRYPTED_SUFFIX)  # the name says what it is
        return dest.resolve()
    folder = (dest or settings.data_dir / "backups").resolve()
    target, n = folder / name, 1
    while target.exists():  # two backups within one second
        n += 1
        target = folder / f"coachbox-backup-{stamp}-{n}{suffix}"
    return target


def _manifest() -> dict:
    return {
        "format": FORMAT,
        "coachbox_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sqlite_version": sqlite3.sqlite_version,
        "migrations": [],
        "files": {},
    }


def _snapshot(source: Path, copy: Path, progress: Progress | None) -> list[str]:
    """Copy one live database with the online backup API; returns its applied migrations.

    The read transaction held around the copy pins one WAL snapshot: writers carry on undisturbed, and
    the copy is exactly the database as of BEGIN. Without it every commit by another connection makes
    sqlite3_backup_step() start over, so under 100 writes/s a stepped backup never finishes.
    """
    src = store.connect(source)
    dst = sqlite3.connect(str(copy), isolation_level=None)
    try:
        src.execute("BEGIN")
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts at the first read
        total = src.execute("PRAGMA page_count").fetchone()[0]
        label = f"backup {source.name}"

        def report(status: int, remaining: int, pages: int) -> None:
            if progress:
                progress(label, pages - remaining, pages)

        src.backup(dst, pages=max(256, total // 100), progress=report)
        applied = store.applied_migrations(src) if source.name == "coachbox.db" else []
        src.execute("COMMIT")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        if source.name == "coachbox.db":
            _drop_legacy_key(dst)
        return applied
    finally:
        dst.close()
        src.close()


def _drop_legacy_key(copy: sqlite3.Connection) -> None:
    """An old box's signing key still in its database (not moved out yet by a start) never goes into a backup: the
    row is deleted from the copy with its bytes overwritten, and VACUUM leaves no free page that held it."""
    try:
        found = copy.execute("SELECT 1 FROM box_state WHERE key = ?", (LEGACY_KEY_ROW,)).fetchone()
    except sqlite3.OperationalError:
        return  # no box_state table: an empty or very old database
    if found:
        copy.execute("PRAGMA secure_delete = ON")
        copy.execute("DELETE FROM box_state WHERE key = ?", (LEGACY_KEY_ROW,))
        copy.execute("VACUUM")


def _walk(data_dir: Path, folder: str) -> Iterator[tuple[str, Path]]:
    root = data_dir / folder
    if not root.is_dir():
        return
    for dirpath, _dirs, files in os.walk(root):
        for file in files:
            path = Path(dirpath) / file
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(data_dir).as_posix(), path


class _HashingReader:
    """Reads exactly `size` bytes of a file for tarfile, hashing what it hands over."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        return data


def _write_archive(
    partial: Path,
    members: list[tuple[str, Path]],
    manifest: dict,
    progress: Progress | None,
    recipients: list[x25519.Recipient],
) -> None:
    with open(partial, "wb") as out:
        if not recipients:
            _write_tar(out, members, manifest, progress)
        else:
            pipe = _EncryptingPipe(out, recipients)
            try:
                _write_tar(pipe, members, manifest, progress)  # type: ignore[arg-type]  # write/flush/close suffice
            finally:
                pipe.close()
        out.flush()
        os.fsync(out.fileno())


def _write_tar(out: IO[bytes], members: list[tuple[str, Path]], manifest: dict, progress: Progress | None) -> None:
    total = sum(path.stat().st_size for _name, path in members) or 1
    done = 0
    # Level 3: SQLite pages of text compress well already; level 9 triples the time for a few % more.
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=3) as tar:
        for name, path in members:
            with open(path, "rb") as handle:
                info = tar.gettarinfo(fileobj=handle, arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o644
                reader = _HashingReader(handle)
                tar.addfile(info, reader)
            manifest["files"][name] = {"size": info.size, "sha256": reader.sha256.hexdigest()}
            done += info.size
            if progress:
                progress("write archive", done, total)
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(body), 0o644, int(datetime.now(UTC).timestamp())
        tar.addfile(info, io.BytesIO(body))


def prune_backups(settings: Settings, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in data/backups/; returns what was deleted."""
    folder = settings.data_dir / "backups"
    found = sorted(
        (p for p in folder.glob(BACKUP_GLOB) if p.name.endswith(SUFFIXES)),
        key=lambda p: (p.stat().st_mtime, p.name),
        reverse=True,
    )
    doomed = found[max(keep, 0) :]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# -- restore -----------------------------------------------------------------------------------------


def restore(
    settings: Settings,
    src: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    identity: Path | None = None,
) -> None:
    """Verify a backup (decrypted with the age identity file `identity` when it is a .age one) and put it in place of
    the data folder's databases, media and certificates."""
    src = Path(src)
    if not src.is_file():
        raise UserError(f"{src}: no such backup file. `ls {settings.data_dir / 'backups'}` lists the automatic ones.")
    try:
        encrypted = is_encrypted(src)
    except OSError as exc:
        raise UserError(f"restore failed: {src}: {exc.strerror}. Nothing was changed.") from None
    identities = read_identities(Path(identity)) if encrypted and identity is not None else []
    if encrypted and not identities:
        raise UserError(
            f"{src} is encrypted (age): give the identity file that matches one of [backup] recipients, "
            f"`coachbox restore --identity PATH {src}` (the AGE-SECRET-KEY-1… file kept off this box). "
            "Nothing was changed."
        )
    if data_dir_in_use(settings):
        raise UserError(
            f"coachbox is running on {settings.data_dir}: stop it first (Ctrl-C, or `docker compose stop`), "
            "then run the restore again."
        )
    existing = _existing_data(settings)
    if existing and not force:
        raise UserError(
            f"{settings.data_dir} already holds data ({', '.join(existing)}). Re-run with --force to "
            "replace it (the current files are moved to data/backups/pre-restore-<time>/ first)."
        )
    with exclusive(settings) as alone:
        if not alone:
            raise UserError(f"coachbox started on {settings.data_dir} meanwhile: stop it, then restore again.")
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.data_dir) as tmp:
            staged = Path(tmp)
            archive = _decrypt(src, staged / ".archive.tar.gz", identities) if encrypted else src
            manifest = _extract_verified(src, staged, progress, archive=archive)
            for name in DATABASES:
                if (staged / name).exists():
                    _check_integrity(src, staged / name)
            _refuse_newer(src, manifest)
            if existing:
                _move_aside(settings)
            for name in [*DATABASES, *FOLDERS]:
                if (staged / name).exists():
                    os.replace(staged / name, settings.data_dir / name)
            for folder in FOLDERS:
                (settings.data_dir / folder).mkdir(exist_ok=True)


def _existing_data(settings: Settings) -> list[str]:
    data = settings.data_dir
    found = [name for name in DATABASES if (data / name).exists()]
    found += [
        f"{folder}/"
        for folder in FOLDERS
        if (data / folder).is_dir() and any(p.is_file() for p in (data / folder).rglob("*"))
    ]
    return found


def _damaged(src: Path, what: str) -> UserError:
    return UserError(
        f"{src}: {what}. Nothing was changed. Use another backup file "
        f"(automatic ones are in data/backups/), or make a fresh one with `coachbox backup`."
    )


def _allowed(name: str) -> bool:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return False
    return name in DATABASES or name == MANIFEST or (path.parts[0] in FOLDERS and len(path.parts) > 1)


def _decrypt(src: Path, out: Path, identities: list[x25519.Identity]) -> Path:
    """Decrypt an age backup, streaming, into `out` (inside the restore's private staging folder)."""
    try:
        with open(src, "rb") as reader, open(out, "wb") as writer:
            pyrage.decrypt_io(reader, writer, identities)
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise UserError(
                f"{src}: the identity given with --identity cannot open it: it was encrypted to other age keys. "
                "Use the identity file whose public key was in [backup] recipients when this backup was made. "
                "Nothing was changed."
            ) from None
        raise _damaged(src, f"it is damaged or not a coachbox backup (age: {exc})") from None
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) or exc.errno is not None:
            raise UserError(
                f"restore failed: {exc.filename or src}: {exc.strerror or exc}. Nothing was changed."
            ) from None
        raise _damaged(src, f"it is damaged or not a coachbox backup (age: {exc})") from None
    return out


def _extract_verified(src: Path, staged: Path, progress: Progress | None, *, archive: Path | None = None) -> dict:
    """Extract `archive` (default: `src` itself; errors always name `src`) into `staged`, accepting only regular
    files at known, relative paths that match the manifest."""
    try:
        with tarfile.open(archive or src, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                if not _allowed(member.name):
                    raise _damaged(src, f"unexpected entry {member.name!r} (not a coachbox backup, or tampered with)")
                if not (member.isfile() or member.isdir()):
                    raise _damaged(
                        src, f"entry {member.name!r} is a link or device, which a coachbox backup never holds"
                    )
            manifest_member = next((m for m in members if m.name == MANIFEST), None)
            if manifest_member is None:
                raise _damaged(src, "it has no manifest.json, so it is not a coachbox backup")
            manifest_file = tar.extractfile(manifest_member)
            if manifest_file is None:
                raise _damaged(src, "its manifest.json is not a file")
            manifest = json.loads(manifest_file.read())
            files = manifest.get("files") if isinstance(manifest, dict) else None
            if manifest.get("format") != FORMAT or not isinstance(files, dict):
                raise _damaged(src, f"manifest.json has an unknown format {manifest.get('format')!r}")
            present = {m.name for m in members if m.isfile() and m.name != MANIFEST}
            if present != set(files):
                odd = sorted(present ^ set(files))[0]
                raise _damaged(src, f"{odd} is not in both the archive and its manifest.json")
            total, done = sum(m.size for m in members if m.name in files) or 1, 0
            for member in members:
                if member.name not in files:
                    continue
                target = staged / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                source = tar.extractfile(member)
                if source is None:  # a directory entry under a file's name (tampered with)
                    raise _damaged(src, f"entry {member.name!r} is not a file")
                with source as reader, open(target, "wb") as out:
                    while chunk := reader.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != files[member.name].get("sha256"):
                    raise _damaged(src, f"{member.name} does not match its checksum in manifest.json")
                done += member.size
                if progress:
                    progress("restore files", done, total)
            return manifest
    except (tarfile.TarError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise _damaged(src, f"it is damaged or not a coachbox backup ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise UserError(f"restore failed: {exc.filename}: {exc.strerror}. Nothing was changed.") from None
        raise _damaged(src, f"it is damaged or not a coachbox backup ({exc})") from None


def _check_integrity(src: Path, db: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise _damaged(src, f"{db.name} in it is not a usable SQLite database ({exc})") from None
    if rows != ["ok"]:
        raise _damaged(src, f"{db.name} in it fails PRAGMA integrity_check ({rows[0]})")


def _refuse_newer(src: Path, manifest: dict) -> None:
    known = {m.name for m in store.migrations().pending(sqlite_utils.Database(memory=True))}
    unknown = [name for name in manifest.get("migrations", []) if name not in known]
    if unknown:
        raise UserError(
            f"{src} was made by a newer coachbox (migration {unknown[0]} is unknown here). "
            "Upgrade coachbox first, then restore. Nothing was changed."
        )


def _move_aside(settings: Settings) -> Path:
    """Keep the current databases, media and certificates in data/backups/pre-restore-<time>/."""
    data = settings.data_dir
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    aside = data / "backups" / f"pre-restore-{stamp}"
    aside.mkdir(parents=True, exist_ok=True)
    names = [f"{db}{suffix}" for db in DATABASES for suffix in ("", "-wal", "-shm")] + [*FOLDERS, "cache"]
    for name in names:
        if (data / name).exists():
            shutil.move(str(data / name), str(aside / name))  # -wal goes with its db: the pair stays consistent
    return aside
