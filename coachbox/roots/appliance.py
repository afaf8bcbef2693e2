"""The box itself: first-time set-up of data/, serving web + worker, and `coachbox check`."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from coachbox import store
from coachbox.core.config import Settings
from coachbox.core.errors import UserError

log = logging.getLogger("coachbox")

DATA_SUBDIRS = ("cache", "media", "media/inbound", "certificates", "backups", "logs")
Progress = Callable[[str, int, int], None]


def init_box(
    settings: Settings, *, progress: Progress | None = None, quiet: bool = False, import_content: bool = True
) -> None:
    """Create data/, migrate, import content. Safe to run on every start."""
    data = settings.data_dir
    try:
        for sub in DATA_SUBDIRS:
            (data / sub).mkdir(parents=True, exist_ok=True)
        probe = data / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"data folder {data} is not writable ({exc.strerror}). Fix its permissions "
            f"(e.g. chown -R $(id -u) {data}) or point [paths] data_dir / COACHBOX_PATHS_DATA_DIR elsewhere."
        ) from None
    try:
        conn = store.open_database(settings.db_path)
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"{settings.db_path}: cannot open the database ({exc}). Restore a backup with `coachbox restore`."
        ) from None
    try:
        if import_content and settings.content_dir.exists():
            from coachbox.content.importer import import_folder

            report = import_folder(conn, settings.content_dir, settings, progress=progress)
            if not quiet:
                print(report.summary())
        _announce_first_run(conn, settings)
    finally:
        conn.close()


def ensure_secret_key(conn: sqlite3.Connection, settings: Settings) -> str:
    """[server] secret_key, or one generated once and kept in the database (so it survives restarts)."""
    if settings.server.secret_key:
        return settings.server.secret_key
    row = conn.execute("SELECT value FROM box_state WHERE key = 'secret_key'").fetchone()
    if row:
        return row[0]
    key = secrets.token_urlsafe(48)
    conn.execute(
        "INSERT OR IGNORE INTO box_state (key, value, updated_at) VALUES ('secret_key', ?, ?)",
        (key, store.utcnow_iso()),
    )
    return conn.execute("SELECT value FROM box_state WHERE key = 'secret_key'").fetchone()[0]


def setup_link(conn: sqlite3.Connection, settings: Settings) -> str | None:
    """The one-time link that creates the first owner; None once an admin exists."""
    if conn.execute("SELECT 1 FROM admins LIMIT 1").fetchone():
        conn.execute("DELETE FROM box_state WHERE key = 'setup_token'")
        return None
    row = conn.execute("SELECT value FROM box_state WHERE key = 'setup_token'").fetchone()
    token = row[0] if row else secrets.token_urlsafe(24)
    if not row:
        conn.execute(
            "INSERT INTO box_state (key, value, updated_at) VALUES ('setup_token', ?, ?)", (token, store.utcnow_iso())
        )
    return f"{settings.server.public_url.rstrip('/')}/admin/setup?token={token}"


def _announce_first_run(conn: sqlite3.Connection, settings: Settings) -> None:
    ensure_secret_key(conn, settings)
    link = setup_link(conn, settings)
    if link:
        print(f"\n  First run: create the owner account at\n    {link}\n  (the link works once)\n", flush=True)


def serve(settings: Settings, *, with_worker: bool) -> None:
    """Run Sanic (and beside it the Huey consumer as a managed process) until SIGINT/SIGTERM."""
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from coachbox.core.datalock import hold_shared
    from coachbox.core.logs import setup_logging
    from coachbox.roots.app import create_app

    _refuse_busy_port(settings.server.host, settings.server.port)
    data_lock = hold_shared(settings)  # `coachbox restore` refuses while we hold it
    setup_logging(settings)
    _log_startup(settings)
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()

    @app.main_process_ready
    async def _guard_early_signal(app: Sanic) -> None:
        _stop_waiting_for_acks_on_signal(app.manager)

    if with_worker:
        from coachbox.roots.worker import managed_worker

        @app.main_process_ready
        async def _start_worker(app: Sanic) -> None:
            app.manager.manage("HueyConsumer", managed_worker, {"settings": settings})

    app.prepare(
        host=settings.server.host,
        port=settings.server.port,
        workers=max(1, settings.server.workers),
        motd=False,
        access_log=False,
        single_process=False,  # --single-process never fires main_process_ready: the worker would not start
    )
    print(
        f"coachbox is running on http://{settings.server.host}:{settings.server.port} "
        f"(channel: {settings.channel_kind}). Press Ctrl-C to stop.",
        flush=True,
    )
    Sanic.serve(primary=app, app_loader=loader)
    data_lock.close()


def _stop_waiting_for_acks_on_signal(manager) -> None:
    """Work around two Sanic 25.x hangs when SIGTERM/SIGINT lands early (`docker stop` right after start):

    1. Before the main process has seen every worker's start-up ack, WorkerManager.wait_for_ack re-queues the
       shutdown message to itself forever (100 % CPU, never exits). We wait the same way, but stop waiting once
       shutdown has begun, so the monitor loop receives the shutdown message and stops everything normally.
    2. The signal handler talks to the shared worker-state manager over the same proxy connection the main
       thread may be half-way through using, and both then wait forever for each other. Proxies keep one
       connection per thread, so we run Sanic's handler on a short-lived thread of its own.
    """
    if not all(
        hasattr(manager, name)
        for name in ("_all_workers_ack", "_shutting_down", "THRESHOLD", "kill", "shutdown_signal")
    ):
        return  # a Sanic whose internals changed: keep its own behaviour

    def wait_for_ack() -> None:
        deadline = time.monotonic() + manager.THRESHOLD / 10
        while not manager._shutting_down and not manager._all_workers_ack():
            if time.monotonic() > deadline:
                log.error("not all web workers started in time; stopping")
                manager.kill()  # raises ServerKilled, as Sanic itself does
            time.sleep(0.05)

    def on_signal(signum: int, frame: object) -> None:
        threading.Thread(target=manager.shutdown_signal, args=(signum, None), name="coachbox-stop", daemon=True).start()

    manager.wait_for_ack = wait_for_ack
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _refuse_busy_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is already in use. Stop the other program, or choose another port "
                    f"with --port or COACHBOX_SERVER_PORT."
                ) from None
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}).") from None


def _log_startup(settings: Settings) -> None:
    version = sqlite3.sqlite_version
    affected = store.wal_reset_bug_affected()
    log.info(
        "starting",
        extra={
            "sqlite": version,
            "wal_reset_bug": affected,
            "channel": settings.channel_kind,
            "data_dir": str(settings.data_dir),
        },
    )
    if settings.channel_kind == "twilio" and not settings.server.verify_signatures:
        log.warning("TWILIO SIGNATURE CHECKING IS OFF: anyone can post fake messages. Use only for a local tunnel.")


@dataclass(frozen=True)
class Finding:
    level: str  # ok | info | warn | error
    what: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Finding]:
    """Everything `coachbox check` reports; errors make it exit 1."""
    findings = [Finding("ok", f"configuration loaded (channel: {settings.channel_kind})")]
    findings += _check_data_dir(settings)
    findings += _check_sqlite()
    findings += _check_content(settings)
    findings += _check_channel(settings)
    findings += _check_ai(settings)
    findings += _check_fonts(settings)
    return findings


def _check_data_dir(settings: Settings) -> list[Finding]:
    data = settings.data_dir
    target = data if data.exists() else data.parent
    if not os.access(target, os.W_OK):
        return [Finding("error", f"data folder {data} is not writable", f"chown -R $(id -u) {data}")]
    return [Finding("ok", f"data folder {data} is writable")]


def _check_sqlite() -> list[Finding]:
    version = sqlite3.sqlite_version
    if store.wal_reset_bug_affected():
        return [
            Finding(
                "info",
                f"SQLite {version} is inside the WAL-reset bug range (3.7.0-3.51.2); mitigated: auto-checkpoints are "
                "off and only TRUNCATE checkpoints (which hold the writer lock) run",
                "nothing to do; a Python linked to SQLite >= 3.51.3 removes the issue",
            )
        ]
    return [Finding("ok", f"SQLite {version} is not affected by the WAL-reset bug")]


def _check_content(settings: Settings) -> list[Finding]:
    from coachbox.content.parser import parse_folder

    if not settings.content_dir.exists():
        return [Finding("warn", f"content folder {settings.content_dir} does not exist", "set [paths] content_dir")]
    result = parse_folder(settings.content_dir)
    findings = [Finding("error", str(problem)) for problem in result.errors]
    findings += [Finding("warn", str(problem)) for problem in result.warnings]
    if not result.errors:
        lessons = sum(len(c.lessons) for c in result.courses)
        findings.insert(
            0,
            Finding(
                "ok",
                f"content: {len(result.courses)} courses, {lessons} lessons, locales {', '.join(sorted(result.locales))}",
            ),
        )
    return findings


def _check_channel(settings: Settings) -> list[Finding]:
    if settings.channel_kind == "simulator":
        return [
            Finding(
                "info",
                "no Twilio credentials: running on the built-in simulator channel",
                "set COACHBOX_TWILIO_ACCOUNT_SID and COACHBOX_TWILIO_AUTH_TOKEN to use WhatsApp",
            )
        ]
    from coachbox.channels.twilio.transport import check_credentials

    return [check_credentials(settings), *_check_templates(settings)]


def _check_templates(settings: Settings) -> list[Finding]:
    """Which [twilio.templates] keys are set: without one, that kind of message waits for the learner outside the
    24-hour window (quick replies fall back to numbered text). docs/twilio.md says how to create each."""
    from coachbox.channels.templates import TEMPLATES, configured

    if not settings.twilio.whatsapp_from:
        return []  # SMS only: no window, no templates
    have, missing = configured(settings.twilio.templates)
    waits = [t.key for t in TEMPLATES if t.key in missing and t.waits]
    findings = [Finding("ok" if not missing else "info", f"WhatsApp templates configured: {', '.join(have) or 'none'}")]
    if waits:
        findings.append(
            Finding(
                "warn",
                f"WhatsApp templates missing: {', '.join(waits)} (outside the 24-hour window "
                "these messages wait until the learner writes)",
                "create them and set [twilio.templates] (docs/twilio.md, section 3)",
            )
        )
    buttons = [k for k in missing if k not in waits]
    if buttons:
        findings.append(
            Finding(
                "info",
                f"no quick-reply templates {', '.join(buttons)}: choices go as numbered text",
                "optional: docs/twilio.md, 'Quick-reply buttons'",
            )
        )
    return findings


def _check_ai(settings: Settings) -> list[Finding]:
    if not settings.ai.api_key:
        return [
            Finding(
                "info",
                "no AI key: the tutor answers with lesson excerpts only",
                "set COACHBOX_AI_API_KEY (and [ai] base_url / model) for full answers",
            )
        ]
    return [Finding("ok", f"AI tutor configured: {settings.ai.model} at {settings.ai.base_url}")]


def _check_fonts(settings: Settings) -> list[Finding]:
    from coachbox.certificates.pdf import fonts_from_settings

    fonts = fonts_from_settings(settings)
    missing = fonts.missing()
    if fonts.regular in missing:
        return [
            Finding(
                "warn",
                f"certificate font {fonts.regular} is missing: names outside Latin-1 cannot be drawn",
                "apt-get install fonts-dejavu-core, or set [org] certificate_font to a Unicode TTF",
            )
        ]
    findings = [Finding("ok", f"certificate font found: {fonts.regular}")]
    findings += [
        Finding(
            "warn",
            f"certificate font {path} is missing (configured in [org])",
            "install it or fix [org] certificate_bold_font / certificate_fallback_fonts",
        )
        for path in missing
    ]
    try:
        import uharfbuzz  # noqa: F401 - only checking that Arabic-script names can be shaped
    except ImportError:
        findings.append(
            Finding(
                "warn", "uharfbuzz is not installed: Arabic-script names are drawn unjoined", "pip install uharfbuzz"
            )
        )
    return findings
