"""`coachbox …` commands: parse arguments, call the feature modules, turn UserError into exit code 1."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from coachbox.core.clock import clock_from_environment
from coachbox.core.config import Settings
from coachbox.core.errors import UserError

log = logging.getLogger("coachbox.cli.main")


def main(argv: Sequence[str] | None = None) -> int:
    # Files and folders this command creates (data/, backups, logs, the key file) are its user's alone: 0600/0700.
    # Put back on return, for callers that run commands in their own process (the tests).
    previous = os.umask(0o077)
    try:
        return _main(argv)
    finally:
        os.umask(previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = Settings.load(args.config)
        clock_from_environment(os.environ)  # a malformed test clock stops here, named, not in a spawned worker
        code = args.handler(settings, args) or 0
        sys.stdout.flush()  # a reader that went away shows here, inside the try, not at interpreter exit
        return code
    except UserError as exc:
        print(f"coachbox: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `coachbox jobs | head`: the reader closed the pipe. As the Python docs advise (signal module, "Note on
        # SIGPIPE"): point stdout at devnull so the flush at exit cannot fail again, and exit 1, no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _version() -> str:
    """The installed package's version (what a vulnerability report should name)."""
    try:
        return importlib.metadata.version("coachbox")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coachbox", description="A WhatsApp micro-learning coach on one box.")
    parser.add_argument("--config", help="path to coachbox.toml (default: ./coachbox.toml or $COACHBOX_CONFIG)")
    parser.add_argument("--version", action="version", version=f"coachbox {_version()}")
    sub = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, handler: Callable | None, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    command("init", _init, "create the data folder, migrate the database and import content (idempotent)")
    for name, handler, help in (
        ("run", _run, "start the web server and the worker together"),
        ("serve", _serve, "start only the web server"),
    ):
        p = command(name, handler, help)
        p.add_argument("--host", help="listen address (default: [server] host)")
        p.add_argument("--port", type=int, help="listen port (default: [server] port)")
    command("worker", _worker, "start only the background worker")
    p = command("import", _import, "import courses and locales from a content folder")
    p.add_argument("path", nargs="?", help="content folder (default: [paths] content_dir)")
    p = command("export", _export, "write the courses in the database back to files")
    p.add_argument("path", help="destination folder")
    p = command("chat", _chat, "talk to the bot as a learner, in this terminal")
    p.add_argument("--phone", required=True, help="the learner's phone number, e.g. +254712345678")
    p.add_argument("--lang", help="start in this language (e.g. sw)")
    p.add_argument("--name", help="WhatsApp profile name to pretend")
    p = command("admin", None, "manage admin accounts")
    admin_sub = p.add_subparsers(metavar="ACTION")
    add = admin_sub.add_parser("add", help="add an admin (prints a one-time link to set the password)")
    add.add_argument("email")
    add.add_argument("--role", choices=("owner", "editor", "viewer"), default="editor")
    add.set_defaults(handler=_admin_add)
    reset = admin_sub.add_parser(
        "reset",
        help="print a one-time link to reset an admin's password; with no EMAIL while no admin exists yet, "
        "a new first-run link (the old one stops working)",
    )
    reset.add_argument("email", nargs="?", help="the admin's email (leave out for a new first-run link)")
    reset.set_defaults(handler=_admin_reset)
    p = command(
        "backup",
        _backup,
        "write a consistent backup .tar.gz while the app runs (.tar.gz.age, encrypted, when [backup] recipients set)",
    )
    p.add_argument("dest", nargs="?", help="folder or file (default: data/backups/)")
    p = command("restore", _restore, "restore a backup .tar.gz(.age) into the data folder (app must be stopped)")
    p.add_argument("src", help="the backup file")
    p.add_argument("--force", action="store_true", help="replace existing data (it is moved aside first)")
    p.add_argument("--identity", metavar="PATH", help="age identity file (AGE-SECRET-KEY-1…) for a .age backup")
    p = command(
        "backup-key",
        _backup_key,
        "make an age key pair for encrypted backups: writes the identity (private) to FILE, prints the public key",
    )
    p.add_argument("file", help="where to write the identity: keep it OFF this box (and a copy somewhere safe)")
    p = command("secrets", None, "the box's signing key (/media links, sign-in forms)")
    secrets_sub = p.add_subparsers(metavar="ACTION")
    rotate = secrets_sub.add_parser(
        "rotate",
        help="replace the generated signing key with a new one; /media links already sent stop working, sign-in "
        "pages left open need a reload. Restart coachbox afterwards.",
    )
    rotate.set_defaults(handler=_secrets_rotate)
    command("check", _check, "check configuration, content, channel credentials and SQLite")
    p = command("jobs", _jobs, "list the scheduled background jobs, their last run and outcome")
    p.add_argument("--json", action="store_true", help="one JSON object per job instead of a table")
    return parser


def _init(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.roots.appliance import init_box

    init_box(settings, progress=_progress_printer())
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.roots.appliance import init_box, serve

    settings = _with_address(settings, args)  # before init: the first-run link names the port actually served
    first_run = init_box(settings, progress=_progress_printer(), quiet=True, announce=False)
    serve(settings, with_worker=True, first_run=first_run)
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.roots.appliance import init_box, serve

    settings = _with_address(settings, args)  # before init: the first-run link names the port actually served
    first_run = init_box(settings, progress=None, quiet=True, import_content=False, announce=False)
    serve(settings, with_worker=False, first_run=first_run)
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.roots.appliance import init_box

    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.roots.worker import run_worker

    init_box(settings, progress=None, quiet=True, import_content=False)
    run_worker(settings)
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.content.importer import import_folder

    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.store import open_database

    folder = Path(args.path) if args.path else settings.content_dir
    conn = open_database(settings.db_path)
    try:
        report = import_folder(conn, folder, settings, progress=_progress_printer())
    finally:
        conn.close()
    print(report.summary())
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.content.exporter import export_folder

    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.store import open_read_only

    conn = open_read_only(settings.db_path)  # reads the courses: creates no database where there is none
    try:
        written = export_folder(conn, Path(args.path), settings, progress=_progress_printer())
    finally:
        conn.close()
    print(f"Exported {written} files to {args.path}")
    return 0


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.cli.chat import run_chat

    return run_chat(settings, phone=args.phone, language=args.lang, profile_name=args.name)


def _admin_add(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.admin.accounts import add_admin_cli

    print(add_admin_cli(settings, args.email, args.role))
    return 0


def _admin_reset(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.admin.accounts import reset_admin_cli

    print(reset_admin_cli(settings, args.email))
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.ops.backup import backup

    path = backup(settings, Path(args.dest) if args.dest else None, progress=_progress_printer())
    print(f"Backup written: {path}")
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.ops.backup import restore

    identity = Path(args.identity) if args.identity else None
    restore(settings, Path(args.src), force=args.force, progress=_progress_printer(), identity=identity)
    print(f"Restored {args.src} into {settings.data_dir}")
    return 0


def _backup_key(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.ops.backup import write_identity_file

    public = write_identity_file(Path(args.file))
    print(
        f"Identity (private key) written to {args.file}: move it OFF this box and keep a copy somewhere safe; "
        "without it no encrypted backup can be restored.\n"
        f"Public key: {public}\n"
        f"Encrypt backups to it: COACHBOX_BACKUP_RECIPIENTS={public} (or [backup] recipients in coachbox.toml)."
    )
    return 0


def _secrets_rotate(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.store.secret_key import rotate_key_file

    print(rotate_key_file(settings))
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.ops.checks import run_checks

    findings = run_checks(settings)
    worst = 0
    for finding in findings:
        print(f"[{finding.level:>5}] {finding.what}")
        if finding.fix:
            print(f"        fix: {finding.fix}")
        worst = max(worst, 1 if finding.level == "error" else 0)
    print("All checks passed." if worst == 0 else "Some checks failed.")
    return worst


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    # lazy: each sub-command loads only its own part of the app (`coachbox chat`, `check`, `jobs` never load Sanic)
    from coachbox.jobs.listing import print_jobs

    return print_jobs(settings, as_json=args.json)


def _with_address(settings: Settings, args: argparse.Namespace) -> Settings:
    return settings.with_address(getattr(args, "host", None), getattr(args, "port", None))


def _progress_printer() -> Callable[[str, int, int], None] | None:
    """A progress line on a terminal ('\\r' updates), a line per quarter when piped."""
    interactive = sys.stderr.isatty()
    last: dict[str, int] = {}

    def report(label: str, done: int, total: int) -> None:
        if total <= 0:
            return
        percent = done * 100 // total
        if interactive:
            bar = "#" * (percent // 5)
            end = "\n" if done >= total else ""
            print(f"\r{label:<28} [{bar:<20}] {done}/{total}", end=end, file=sys.stderr, flush=True)
        elif percent // 25 != last.get(label, -1) or done >= total:
            last[label] = percent // 25
            print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    return report
