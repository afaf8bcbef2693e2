"""Owner-only operations page: outbox (queued, waiting, failed + retry), backups, job runs, health checks and settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound
from sanic.response import file_stream

from coachbox.admin import security as sec
from coachbox.admin.pages import back, render
from coachbox.channels.buttons import window_template_key
from coachbox.channels.outbox import describe
from coachbox.conversation.lessons import NUDGE_TEMPLATE
from coachbox.core.config import documented_keys, template_category
from coachbox.core.disk import judge
from coachbox.jobs.queue import queue_counts
from coachbox.ops.backup import SUFFIXES, backup
from coachbox.ops.checks import check_backups, run_checks
from coachbox.schedule.runs import job_table
from coachbox.schedule.tasks import jobs
from coachbox.store import admins, intake, messages, queue_file, transaction
from coachbox.store.schedule import latest_runs

bp = Blueprint("admin_operations", url_prefix="/admin")
BACKUP_NAME = "coachbox-backup-"


def _settings_groups(settings) -> list[dict]:
    """Settings by section, each key with its value (secrets masked) and whether it differs from the default."""
    groups: dict[str, dict] = {}
    for key, shown, help_text, env, changed in _settings_rows(settings):
        section = key.split(".", 1)[0]
        group = groups.setdefault(section, {"section": section, "rows": [], "changed": 0})
        group["rows"].append({"key": key, "value": shown, "help": help_text, "env": env, "changed": changed})
        group["changed"] += changed
    return list(groups.values())


def _settings_rows(settings) -> list[tuple[str, str, str, str, bool]]:
    """(key, value, help, env name, changed from default) with every secret masked: never show a token."""
    rows = []
    for section, key, default, help_text, secret in documented_keys():
        value = getattr(getattr(settings, section), key)
        if secret:
            shown = "•••••• (set)" if value else "(not set)"
        elif isinstance(value, dict) and key == "templates":  # with the category each is billed at
            shown = ", ".join(f"{k} = {template_category(v)}" if v else f"{k} = empty" for k, v in value.items())
            shown = shown or "(none)"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k} = {'set' if v else 'empty'}" for k, v in value.items()) or "(none)"
        else:
            shown = str(value)
        changed = value != default and not (isinstance(default, str) and str(value) == default)
        rows.append((f"{section}.{key}", shown, help_text, f"COACHBOX_{section.upper()}_{key.upper()}", changed))
    return rows


def summary(
    *, failed: int, waiting: int, checks, disk, backups: list[dict], jobs: list[dict], inbound=None, now=None
) -> list[dict]:
    """The page's first lines: each part of the box in plain words, with a level (ok, warn, bad) and an anchor."""
    problems = [c for c in checks if c.level in ("error", "warn")]
    lines = [
        {
            "level": "bad" if failed else "ok",
            "what": "Messages",
            "say": f"{failed} message{'s' if failed != 1 else ''} could not be sent" if failed else "Everything sent",
            "more": f"{waiting} waiting for the learner to write" if waiting else "",
            "href": "#failed",
        },
        {
            "level": "bad" if any(c.level == "error" for c in problems) else "warn" if problems else "ok",
            "what": "Health checks",
            "say": f"{len(problems)} need{'s' if len(problems) == 1 else ''} attention" if problems else "All fine",
            "more": "",
            "href": "#health",
        },
    ]
    if inbound is not None and (inbound.waiting or inbound.failed):
        late = inbound.oldest_seconds(now)
        lines.append(
            {
                "level": "bad" if inbound.failed or late > 60 else "warn",
                "what": "Incoming messages",
                "say": (
                    f"{inbound.waiting} waiting for their reply, the oldest for {late:.0f} s" if inbound.waiting else ""
                )
                + ("; " if inbound.waiting and inbound.failed else "")
                + (f"{inbound.failed} could not be handled (see the log)" if inbound.failed else ""),
                "more": "the box is busier than it can answer at once; replies follow in arrival order",
                "href": "#health",
            }
        )
    errors = [j for j in jobs if j.get("outcome") in ("error", "interrupted")]
    ran = [j for j in jobs if j.get("last_started")]
    lines.append(
        {
            "level": "bad" if errors else "ok" if ran else "warn",
            "what": "Scheduled work",
            "say": (
                f"{len(errors)} job{'s' if len(errors) != 1 else ''} failed last time"
                if errors
                else "Running"
                if ran
                else "Nothing has run yet: is the worker running?"
            ),
            "more": "",
            "href": "#jobs",
        }
    )
    newest = backups[0] if backups else None
    lines.append(
        {
            "level": "ok" if newest else "warn",
            "what": "Backups",
            "say": f"{len(backups)} kept, newest {newest['name'].removeprefix(BACKUP_NAME)}"
            if newest
            else "No backup yet",
            "more": "" if not newest or newest["encrypted"] else "not encrypted",
            "href": "#backups",
        }
    )
    if disk is not None:
        lines.append(
            {
                "level": "bad" if disk.level == "error" else "warn" if disk.level == "warn" else "ok",
                "what": "Disk",
                "say": f"{disk.space.free_mb / 1024:.1f} GB free ({disk.space.free_percent} %)",
                "more": disk.message if disk.level != "ok" else "",
                "href": "#health",
            }
        )
    return lines


def waiting_note(row) -> str:
    """What becomes of a waiting row (outside the 24-hour window, no template for it), by what the row is for."""

    key = window_template_key(row["template_key"], row["kind"])
    if row["kind"] == "nudge":
        # The nudge only asks for the held lesson: the learner's reply brings the lesson itself (docs/scheduling.md).
        return (
            f"never sent when the learner writes: it is cancelled then, and their message brings the held "
            f"lesson itself; add the '{NUDGE_TEMPLATE}' template and retry to send it now"
        )
    return f"goes out when the learner writes again, or retry after adding the '{key}' template"


def _job_runs(conn, settings) -> list[dict]:
    """Every scheduled job with its last run: the scheduler's own table (`coachbox jobs` shows the same), then any
    other job that recorded runs in job_runs."""

    rows = job_table(conn, jobs(settings))
    known = {r["name"] for r in rows}
    for name, run in sorted(latest_runs(conn).items()):
        if name not in known:
            rows.append(
                {
                    "name": name,
                    "when": "",
                    "what": "",
                    "last_started": run["started_at"],
                    "last_finished": run["finished_at"],
                    "outcome": run["outcome"],
                    "detail": run["detail"],
                }
            )
    return rows


def _backups(settings) -> list[dict]:
    folder = settings.data_dir / "backups"
    if not folder.is_dir():
        return []
    files = sorted((p for p in folder.glob(f"{BACKUP_NAME}*") if p.name.endswith(SUFFIXES)), reverse=True)
    return [{"name": p.name, "bytes": p.stat().st_size, "encrypted": p.name.endswith(".age")} for p in files[:30]]


@bp.get("/operations")
@sec.admin_view("owner")
async def operations(request: Request):
    services = request.app.ctx.services
    settings = services.settings

    def load(conn):
        return (
            messages.outbox_rows(conn, ("failed", "undelivered")),
            messages.outbox_rows(conn, ("queued", "retry", "sending", "waiting")),
            _job_runs(conn, settings),
            queue_file.last_recovery(conn),
            intake.backlog(conn),
        )

    failed, queued, jobs, queue_recovery, inbound = await services.db.run(load)
    try:
        disk = judge(settings)
    except OSError:
        disk = None

    queue = queue_counts(services.huey)  # the dashboard reads the same function: the two pages agree
    pending, scheduled = queue.waiting, queue.scheduled
    # The checks of `coachbox check` may call Twilio and read the content folder: run them off the event loop,
    # and never let them break the page.
    try:
        checks = await asyncio.get_running_loop().run_in_executor(None, run_checks, settings)
    except Exception as exc:  # noqa: BLE001
        checks = [type("F", (), {"level": "error", "what": f"check failed: {exc}", "fix": ""})()]
    backup_files = _backups(settings)
    return render(
        request,
        "operations.html",
        failed=failed,
        queued=queued,
        describe=lambda code: describe(settings, code),  # Twilio's or Meta's words for the code
        backups=backup_files,
        backup_encryption=check_backups(settings)[0],
        settings_groups=_settings_groups(settings),
        summary=summary(
            failed=len(failed),
            waiting=sum(1 for m in queued if m["status"] == "waiting"),
            checks=checks,
            disk=disk,
            backups=backup_files,
            jobs=jobs,
            inbound=inbound,
            now=services.clock.now(),
        ),
        pending=pending,
        scheduled=scheduled,
        checks=checks,
        channel=settings.channel_kind,
        jobs=jobs,
        waiting_note=waiting_note,
        queue_recovery=queue_recovery,
        disk=disk,
    )


@bp.post("/operations/retry")
@sec.admin_view("owner")
async def retry(request: Request):
    services = request.app.ctx.services
    form = request.form
    ids = [int(v) for v in (form.getlist("message_id", []) if form is not None else []) if v.isdigit()][:500]
    if not ids:
        raise BadRequest("Choose messages to retry.")

    def change(conn, now):
        with transaction(conn):
            count = messages.retry(conn, ids, now)
            admins.audit(conn, request.ctx.admin["admin_id"], "outbox.retry", None, now, ids=ids, count=count)

    await services.db.run(change, services.clock.now())
    sender = services.sender
    if sender is not None:
        sender.kick()
    return back("/admin/operations", "retried")


@bp.post("/operations/backups")
@sec.admin_view("owner")
async def create_backup(request: Request):
    services = request.app.ctx.services
    # The online backup API copies while the app keeps writing; a thread keeps the page's worker responsive.
    path = await asyncio.get_running_loop().run_in_executor(None, backup, services.settings, None, None)
    await services.db.run(
        lambda conn, now: admins.audit(conn, request.ctx.admin["admin_id"], "backup.create", Path(path).name, now),
        services.clock.now(),
    )
    return back("/admin/operations#backups", "backup")


@bp.get("/operations/backups/<name>")
@sec.admin_view("owner")
async def download_backup(request: Request, name: str):
    services = request.app.ctx.services
    folder = (services.settings.data_dir / "backups").resolve()
    path = (folder / name).resolve()
    # Only plain backup file names in data/backups: no ../, no other files.
    if not name.startswith(BACKUP_NAME) or not name.endswith(SUFFIXES) or path.parent != folder or not path.is_file():
        raise NotFound("No such backup.")
    await services.db.run(
        lambda conn, now: admins.audit(conn, request.ctx.admin["admin_id"], "backup.download", name, now),
        services.clock.now(),
    )
    mime = "application/octet-stream" if name.endswith(".age") else "application/gzip"
    return await file_stream(str(path), mime_type=mime, filename=name)
