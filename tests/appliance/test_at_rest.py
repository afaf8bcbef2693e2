"""Data at rest: data/ and everything in it for its owner only, and the signing key outside data/ and its backups."""

from __future__ import annotations

import gzip
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coachbox import store
from coachbox.channels.signed_urls import resolve_signed, signed_media_url
from coachbox.cli.main import main
from coachbox.core.config import ConfigError, Settings
from coachbox.core.errors import UserError
from coachbox.ops.backup import backup
from coachbox.ops.checks import check_at_rest
from coachbox.roots.appliance import init_box
from coachbox.store.secret_key import ensure_secret_key, rotate_key_file, secret_key_path
from tests import processes
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]
OLD_KEY = "old-box-signing-key-" + "k" * 44  # what an older coachbox generated into box_state


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env.update(
        {
            "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
            "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
            "COACHBOX_LOG_LEVEL": "INFO",
            "COACHBOX_TEST_SESSION": os.environ.get("COACHBOX_TEST_SESSION", ""),
        }
    )
    return env


def _coachbox(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), *argv],
        env=_env(tmp_path),
        cwd=tmp_path,
        preexec_fn=lambda: os.umask(0o022),  # what a shell usually hands a process: coachbox must not need stricter
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _modes(root: Path) -> dict[str, str]:
    """Every path under root (root included) with its permission bits."""
    found = {".": stat.filemode(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.filemode(path.lstat().st_mode)
    return found


def _old_box_with_key_in_the_database(conn) -> None:
    conn.execute("INSERT INTO box_state (key, value, updated_at) VALUES ('secret_key', ?, 'x')", (OLD_KEY,))


def _archive_text(path: Path) -> bytes:
    """A plain backup, compressed and not: what someone holding the file could grep."""
    raw = path.read_bytes()
    return raw + gzip.decompress(raw)


# -- data/ for its owner only ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_box_made_by_the_cli_keeps_every_file_and_folder_to_its_owner(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # an older box's folder, open to everyone
    data.chmod(0o755)
    (data / "media").mkdir(mode=0o755)
    (data / "media" / "lesson.jpg").write_bytes(b"\xff\xd8 jpeg")  # made by hand, 0644: unreachable now anyway

    first = _coachbox(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    backed_up = _coachbox(tmp_path, "backup")
    assert backed_up.returncode == 0, backed_up.stderr

    modes = _modes(data)
    assert modes["."] == "drwx------"  # the old 0755 folder was closed
    new = {name: mode for name, mode in modes.items() if name not in ("media", "media/lesson.jpg")}
    assert {"coachbox.db", "backups", "logs/coachbox.log"} <= set(new)
    assert any(name.startswith("backups/coachbox-backup-") for name in new)
    wrong = {name: mode for name, mode in new.items() if mode not in ("drwx------", "-rw-------")}
    assert wrong == {}
    assert _modes(tmp_path / "secrets") == {".": "drwx------", "secret_key": "-rw-------"}
    lines = [json.loads(line) for line in (data / "logs" / "coachbox.log").read_text().splitlines()]
    assert any("data folder" in line["msg"] and "now 0700" in line["msg"] for line in lines)


@pytest.mark.slow
def test_the_processes_coachbox_run_spawns_create_only_private_files(tmp_path, instant):
    port = _free_port()
    env = {**_env(tmp_path), **clock_environ(instant), "COACHBOX_PATHS_CONTENT_DIR": str(tmp_path / "no-content")}
    argv = [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), "run", "--port", str(port)]
    previous = os.umask(0o022)  # the children inherit it at fork: coachbox must tighten it itself
    try:
        process = processes.start(argv, env=env, cwd=tmp_path, output=tmp_path / "run.out")
    finally:
        os.umask(previous)
    log = tmp_path / "data" / "logs" / "coachbox.log"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "worker starting" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login", timeout=5) as response:
            assert response.status == 200  # a web worker served a page (its cache, its log lines)
    finally:
        processes.stop(process)
    assert "worker starting" in log.read_text()
    modes = {**_modes(tmp_path / "data"), **{f"secrets/{k}": v for k, v in _modes(tmp_path / "secrets").items()}}
    assert {"queue.db", "cache", "logs/coachbox.log"} <= set(modes)
    assert any(name.startswith("cache/") and mode.startswith("-") for name, mode in modes.items())
    assert {name: mode for name, mode in modes.items() if mode not in ("drwx------", "-rw-------")} == {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_check_warns_about_an_open_data_folder_and_key_file(settings, conn):
    ensure_secret_key(conn, settings)
    settings.data_dir.chmod(0o755)
    secret_key_path(settings).chmod(0o644)
    findings = check_at_rest(settings)
    assert [f.level for f in findings] == ["warn", "warn"]
    assert "open to other users" in findings[0].what and findings[0].fix.startswith(f"chmod 700 {settings.data_dir}")
    assert findings[1].fix == f"chmod 600 {secret_key_path(settings)}"


# -- the signing key ------------------------------------------------------------------------------------


def test_the_signing_key_is_generated_once_into_a_private_file_outside_data(settings, conn):
    key = ensure_secret_key(conn, settings)
    path = secret_key_path(settings)
    assert path == settings.data_dir.parent / "secrets" / "secret_key"
    assert not path.is_relative_to(settings.data_dir)
    assert path.read_text().strip() == key and len(key) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ensure_secret_key(conn, settings) == key  # the next start reads it back
    assert conn.execute("SELECT COUNT(*) FROM box_state WHERE key = 'secret_key'").fetchone()[0] == 0


def test_an_old_box_moves_its_key_out_of_the_database_and_its_links_stay_valid(settings, conn, caplog):
    _old_box_with_key_in_the_database(conn)
    now = datetime(2026, 3, 2, 5, tzinfo=UTC)
    url = signed_media_url(settings, OLD_KEY, "media/lesson.jpg", now + timedelta(days=1))
    (settings.data_dir / "media").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "media" / "lesson.jpg").write_bytes(b"\xff\xd8 jpeg")
    conn.close()

    init_box(settings, quiet=True, import_content=False)  # the first start after the upgrade

    assert secret_key_path(settings).read_text().strip() == OLD_KEY
    expires, signature, path = url.split("/media/", 1)[1].split("/", 2)
    fresh = store.open_database(settings.db_path)
    try:
        key = ensure_secret_key(fresh, settings)
        assert fresh.execute("SELECT COUNT(*) FROM box_state WHERE key = 'secret_key'").fetchone()[0] == 0
    finally:
        fresh.close()
    assert key == OLD_KEY
    assert resolve_signed(settings.data_dir, key, int(expires), signature, path, now).name == "lesson.jpg"
    archive = backup(settings)
    assert OLD_KEY.encode() not in _archive_text(archive)  # deleted with its bytes, not just unlinked


def test_a_backup_of_an_old_box_never_started_since_the_upgrade_leaves_its_key_out(settings, conn):
    _old_box_with_key_in_the_database(conn)
    archive = backup(settings)
    assert OLD_KEY.encode() not in _archive_text(archive)


def test_a_backup_never_holds_the_generated_key(settings, conn):
    key = ensure_secret_key(conn, settings)
    archive = backup(settings)
    assert key.encode() not in _archive_text(archive)


def test_a_key_from_the_environment_wins_and_the_old_row_is_deleted(settings, conn):
    _old_box_with_key_in_the_database(conn)
    from_env = settings.replace(server={"secret_key": "from-the-environment"})
    assert ensure_secret_key(conn, from_env) == "from-the-environment"
    assert not secret_key_path(from_env).exists()
    assert conn.execute("SELECT COUNT(*) FROM box_state WHERE key = 'secret_key'").fetchone()[0] == 0
    with pytest.raises(UserError, match="COACHBOX_SERVER_SECRET_KEY"):
        rotate_key_file(from_env)


def test_a_secrets_dir_inside_data_is_refused_naming_the_key(tmp_path):
    environ = {"COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(ConfigError, match=r"paths\.secrets_dir .* is inside the data folder"):
        Settings.load(REPO / "coachbox.toml", {**environ, "COACHBOX_PATHS_SECRETS_DIR": str(tmp_path / "data/keys")})
    elsewhere = Settings.load(REPO / "coachbox.toml", {**environ, "COACHBOX_PATHS_SECRETS_DIR": str(tmp_path / "keys")})
    assert secret_key_path(elsewhere) == tmp_path / "keys" / "secret_key"


def test_rotating_writes_a_new_key_and_says_what_stops_working(settings, conn):
    old = ensure_secret_key(conn, settings)
    message = rotate_key_file(settings)
    new = secret_key_path(settings).read_text().strip()
    assert new != old and len(new) >= 64
    assert "Restart coachbox" in message and "Media links already sent" in message and "stay signed in" in message
    assert stat.S_IMODE(secret_key_path(settings).stat().st_mode) == 0o600
    assert ensure_secret_key(conn, settings) == new


def test_an_empty_key_file_is_refused_with_how_to_fix_it(settings, conn):
    path = secret_key_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("\n")
    with pytest.raises(UserError, match=r"secret_key is empty\. Restore it .* or delete it"):
        ensure_secret_key(conn, settings)


# -- the commands -----------------------------------------------------------------------------------------


def test_the_commands_make_a_backup_key_back_up_encrypted_restore_and_rotate(
    settings, conn, tmp_path, monkeypatch, capsys
):
    config = ["--config", str(REPO / "coachbox.toml")]
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    key_file = tmp_path / "offsite.key"
    assert main([*config, "backup-key", str(key_file)]) == 0
    public = capsys.readouterr().out.split("Public key: ", 1)[1].split()[0]
    assert f"{public}\n" in key_file.read_text()

    monkeypatch.setenv("COACHBOX_BACKUP_RECIPIENTS", public)
    assert main([*config, "backup", str(tmp_path / "out")]) == 0
    (archive,) = (tmp_path / "out").glob("coachbox-backup-*.tar.gz.age")
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(tmp_path / "restored"))
    assert main([*config, "restore", str(archive)]) == 1
    assert "--identity PATH" in capsys.readouterr().err
    assert main([*config, "restore", "--identity", str(key_file), str(archive)]) == 0
    assert (tmp_path / "restored" / "coachbox.db").exists()

    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    old = ensure_secret_key(conn, settings)
    assert main([*config, "secrets", "rotate"]) == 0
    assert "Restart coachbox" in capsys.readouterr().out
    assert secret_key_path(settings).read_text().strip() != old
    monkeypatch.setenv("COACHBOX_BACKUP_RECIPIENTS", "age1wrong")
    assert main([*config, "backup"]) == 1
    assert (
        "backup.recipients (COACHBOX_BACKUP_RECIPIENTS): 'age1wrong' is not an age public key"
        in capsys.readouterr().err
    )


def test_a_bad_backup_recipient_stops_the_start_naming_the_key(settings):
    with pytest.raises(ConfigError, match=r"backup\.recipients \(COACHBOX_BACKUP_RECIPIENTS\): 'age1typo' is not"):
        init_box(settings.replace(backup={"recipients": "age1typo"}), quiet=True, import_content=False)
    assert not settings.data_dir.exists()  # refused before creating anything
