"""The box itself: first-time set-up of data/ and serving web + worker (`coachbox run`, `serve`)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial

from coachbox import store
from coachbox.content.importer import import_folder
from coachbox.core.clock import clock_from_environment
from coachbox.core.config import Settings
from coachbox.core.datalock import hold_shared
from coachbox.core.errors import UserError
from coachbox.core.logs import sanic_log_config, setup_logging
from coachbox.ops.backup import backup_recipients
from coachbox.roots import entry
from coachbox.roots.supervision import Watchdog
from coachbox.store import queue_file, secret_key, secrets

log = logging.getLogger("coachbox")

DATA_SUBDIRS = ("cache", "media", "media/inbound", "certificates", "backups", "logs")
Progress = Callable[[str, int, int], None]


def init_box(
    settings: Settings,
    *,
    progress: Progress | None = None,
    quiet: bool = False,
    import_content: bool = True,
    announce: bool = True,
) -> str | None:
    """Create data/, migrate, import content. Safe to run on every start.

    Returns what to tell the operator about the owner account (the first-run link), printed here unless
    `announce` is false: `coachbox run` prints it after the address, where it is seen.
    """
    data = settings.data_dir
    # A bad [backup] recipient stops the start (a ConfigError naming it), not the night's backup hours later.
    backup_recipients(settings)
    try:
        _private_data_dir(settings)
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
        _replace_broken_queue(conn, settings)
        secret_key.ensure_secret_key(conn, settings)  # moves an old in-database key out of data/ (kept valid)
        if import_content and settings.content_dir.exists():
            report = import_folder(conn, settings.content_dir, settings, progress=progress)
            if not quiet:
                print(report.summary())
        first_run = _first_run_text(conn, settings)
    finally:
        conn.close()
    if first_run and announce:
        print(first_run, flush=True)
    return first_run


def _private_data_dir(settings: Settings) -> None:
    """Make data/ 0700 (new, or an older box's 0755): other users of the machine cannot reach anything in it."""
    data = settings.data_dir
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = data.stat().st_mode & 0o777
    if mode & 0o077:
        data.chmod(0o700)
        setup_logging(settings)  # this runs before serve() sets it up: the line must reach data/logs/coachbox.log
        log.warning(
            "data folder %s was open to other users (mode %o): now 0700, for its owner only",
            data,
            mode,
            extra={"data_dir": str(data), "old_mode": oct(mode)},
        )


def _replace_broken_queue(conn: sqlite3.Connection, settings: Settings) -> None:
    """A corrupt or unreadable queue.db would crash the web workers and the consumer in create_huey: move it (with
    its -wal, -shm) aside as queue.db.corrupt-<time>, so Huey makes a new one. Nothing of a learner's is lost:
    the outbox and schedule tables in coachbox.db are the truth and the periodic tasks rescan them."""
    reason = queue_file.problem(settings.queue_path)
    if reason is None:
        return
    now = clock_from_environment(os.environ).now()
    moved = queue_file.move_aside(settings.queue_path, now)
    queue_file.record_recovery(conn, at=now, reason=reason, moved_to=moved)
    setup_logging(settings)  # this runs before serve() sets it up: the line must reach data/logs/coachbox.log
    log.error(
        "queue database replaced: %s was unusable, moved aside; scheduled work resumes from coachbox.db",
        settings.queue_path.name,
        extra={"reason": reason, "moved_to": str(moved)},
    )


def _first_run_text(conn: sqlite3.Connection, settings: Settings) -> str | None:
    now = clock_from_environment(os.environ).now()
    link = secrets.setup_link(conn, settings, now)  # printed in full only when made: only its hash is kept
    return secrets.describe_setup_link(link, settings, now) if link else None


def running_banner(settings: Settings, first_run: str | None) -> str:
    """The few lines an operator needs once the box is up: where it is, the owner link on a first run, how to stop."""
    base = f"http://{settings.server.host}:{settings.server.port}"
    rule = "  " + "─" * 66
    lines = [
        "",
        rule,
        f"  coachbox is running on {base}  (channel: {settings.channel_kind})",
        f"  Admin page:  {base}/admin/",
    ]
    if settings.channel_kind == "simulator":
        lines.append(f"  Try it as a learner: {base}/admin/simulator (after signing in)")
    if first_run:
        lines += [first_run.rstrip("\n"), ""]
    lines += [f"  Press Ctrl-C to stop. Log: {settings.data_dir / 'logs' / 'coachbox.log'}", rule, ""]
    return "\n".join(lines)


def serve(settings: Settings, *, with_worker: bool, first_run: str | None = None) -> None:
    """Run Sanic (and beside it the Huey consumer as a managed process) until SIGINT/SIGTERM.

    This process only supervises: its app has no routes, and the web workers and the consumer are spawned from
    `roots.entry`, which loads the web app and the tasks in those processes only. A child that dies is restarted
    with back-off by `roots.supervision.Watchdog`; one that keeps dying makes this raise UserError (exit 1).
    """
    # lazy: `coachbox init` and `coachbox chat` use this module without loading Sanic
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    _refuse_busy_port(settings.server.host, settings.server.port)
    data_lock = hold_shared(settings)  # `coachbox restore` refuses while we hold it
    setup_logging(settings)
    _log_startup(settings)
    # Same name as the workers' app: Sanic finds the served app by name in each worker after the loader runs.
    app = Sanic("coachbox", log_config=sanic_log_config())
    loader = AppLoader(factory=partial(entry.web_app, settings))

    watchdog: list[Watchdog] = []

    @app.main_process_ready
    async def _guard_early_signal(app: Sanic) -> None:
        _stop_waiting_for_acks_on_signal(app.manager)

    if with_worker:

        @app.main_process_ready
        async def _start_worker(app: Sanic) -> None:
            # restartable: the watchdog below may ask Sanic to start it again after it died
            app.manager.manage("HueyConsumer", entry.worker_process, {"settings": settings}, restartable=True)

    @app.main_process_ready
    async def _watch_children(app: Sanic) -> None:
        watchdog.append(Watchdog(app.manager))
        watchdog[0].start()

    app.prepare(
        host=settings.server.host,
        port=settings.server.port,
        workers=max(1, settings.server.workers),
        motd=False,
        access_log=False,
        single_process=False,  # --single-process never fires main_process_ready: the worker would not start
    )
    print(running_banner(settings, first_run), flush=True)
    Sanic.serve(primary=app, app_loader=loader)
    data_lock.close()
    for dog in watchdog:
        dog.stop()
        if dog.gave_up:
            raise UserError(
                f"{dog.gave_up} kept dying ({dog.policy.give_up_after} times within {dog.policy.window_seconds:.0f} s); "
                "coachbox stopped so its container or service restart policy can start it afresh. See the log."
            )


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
