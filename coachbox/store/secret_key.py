"""The box's signing key (/media links, sign-in forms' CSRF): [server] secret_key, else a 0600 file outside data/."""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import stat
from pathlib import Path

from coachbox.core.config import Settings
from coachbox.core.errors import UserError

log = logging.getLogger("coachbox.secrets")

LEGACY_ROW = "secret_key"  # box_state row where coachbox ≤ 0.x kept the generated key (moved out on first start)


def secret_key_path(settings: Settings) -> Path:
    """secret_key in [paths] secrets_dir, by default secrets/ in the folder that holds the data folder."""
    return settings.secrets_dir / "secret_key"


def ensure_secret_key(conn: sqlite3.Connection, settings: Settings) -> str:
    """The signing key: [server] secret_key, else the key file (made on first use, from the database's old row when
    there is one, so existing links and sessions stay valid). Deletes the old row from the database either way."""
    if settings.server.secret_key:
        _forget_legacy_row(conn, keep_file=None)
        return settings.server.secret_key
    path = secret_key_path(settings)
    if path.is_relative_to(settings.data_dir):
        raise UserError(
            f"the signing key file {path} is inside the data folder {settings.data_dir}, so every backup would "
            "carry it. Set [paths] secrets_dir (COACHBOX_PATHS_SECRETS_DIR) to a folder outside it."
        )
    row = conn.execute("SELECT value FROM box_state WHERE key = ?", (LEGACY_ROW,)).fetchone()
    key = read_key_file(path)
    if key is None:
        key = write_key_file(path, row[0] if row else secrets.token_urlsafe(48))
        if row:
            log.warning("signing key moved out of the database into %s (0600)", path, extra={"path": str(path)})
        else:
            log.info("signing key generated into %s (0600)", path)
    if row:
        _forget_legacy_row(conn, keep_file=path)
    return key


def rotate_key_file(settings: Settings) -> str:
    """`coachbox secrets rotate`: a new random key in the key file; says what stops working."""
    if settings.server.secret_key:
        raise UserError(
            "the signing key comes from [server] secret_key (COACHBOX_SERVER_SECRET_KEY): rotate it there, by setting "
            "a new random value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) and restarting."
        )
    path = secret_key_path(settings)
    write_key_file(path, secrets.token_urlsafe(48), replace=True)
    log.warning("signing key rotated in %s", path)
    return (
        f"New signing key written to {path}. Restart coachbox now: running processes keep the old key until then. "
        "Media links already sent (lesson media, certificates, MYDATA copies) stop working, and sign-in or "
        "set-password pages left open must be reloaded. Admins stay signed in."
    )


def read_key_file(path: Path) -> str | None:
    """The key in `path`, None when there is no such file; UserError when it is unreadable or empty."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(
            f"cannot read the signing key file {path} ({exc.strerror}). Give the user coachbox runs as access to it "
            "(chown; chmod 600), or set [paths] secrets_dir / COACHBOX_SERVER_SECRET_KEY."
        ) from None
    if not text:
        raise UserError(
            f"the signing key file {path} is empty. Restore it from your copy, or delete it to have a new key "
            "generated at the next start (outstanding /media links and admin sessions then stop working)."
        )
    return text


def write_key_file(path: Path, key: str, *, replace: bool = False) -> str:
    """Write `key` to `path` (0600, its folder 0700) atomically. Unless `replace`, a file another process made
    meanwhile wins, and its key is returned."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            if replace:
                os.replace(temp, path)
            else:
                os.link(temp, path)  # fails if it exists: two processes starting at once agree on one key
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot write the signing key file {path} ({exc.strerror}). Make its folder writable for the user "
            "coachbox runs as, choose another folder with [paths] secrets_dir, or set "
            "COACHBOX_SERVER_SECRET_KEY."
        ) from None
    stored = read_key_file(path)
    assert stored is not None
    return stored


def file_mode_problem(path: Path) -> str | None:
    """Why the key file is readable by others (group/other bits), or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by other users (mode {stat.filemode(mode)})"
    return None


def _forget_legacy_row(conn: sqlite3.Connection, keep_file: Path | None) -> None:
    """Delete the old in-database key, overwriting its bytes (secure_delete) so later backups cannot carry it."""
    if not conn.execute("SELECT 1 FROM box_state WHERE key = ?", (LEGACY_ROW,)).fetchone():
        return
    previous = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete = ON")
    try:
        conn.execute("DELETE FROM box_state WHERE key = ?", (LEGACY_ROW,))
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(previous)}")
    where = f"now in {keep_file}" if keep_file else "[server] secret_key is set"
    log.info("old signing key deleted from the database (%s)", where)
