"""A learner's own copy of their data (MYDATA): a JSON file under data/exports/ behind a signed, expiring link.

The engine asks for it (effects.ExportData); the turn records a pending `deliveries` row (kind 'data_export') and
the worker's task (turns.tasks) writes the file and sends the link through the outbox. One file per learner per
LINK_HOURS: asking again within that time sends the same link again. The nightly housekeeping removes files whose
link has expired; erasing the learner removes theirs at once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coachbox.channels.signed_urls import signed_media_url
from coachbox.conversation.texts import Texts
from coachbox.core.config import Settings
from coachbox.store import learners, transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound
from coachbox.store.secret_key import ensure_secret_key

log = logging.getLogger("coachbox.exports")

FOLDER = "exports"  # under data/; channels.signed_urls serves it (as a download)
KIND = "data_export"  # deliveries kind of a learner's request
LINK_HOURS = 24  # how long a link works, and how long one file answers every request of that learner
_STAMP = "%Y%m%dT%H%M%SZ"
# <learner id>-<UTC time written>-<random>.json: the name alone says whose it is and when its link expires.
_NAME = re.compile(r"^(\d+)-(\d{8}T\d{6}Z)-[A-Za-z0-9_-]{16,}\.json$")


@dataclass(frozen=True)
class ExportFile:
    learner_id: int
    written_at: datetime
    relative_path: str  # exports/<name>

    @property
    def expires_at(self) -> datetime:
        return self.written_at + timedelta(hours=LINK_HOURS)


def _parse(path: Path) -> ExportFile | None:
    match = _NAME.match(path.name)
    if match is None:
        return None
    written = datetime.strptime(match.group(2), _STAMP).replace(tzinfo=UTC)
    return ExportFile(int(match.group(1)), written, f"{FOLDER}/{path.name}")


def files_of(data_dir: Path, learner_id: int) -> list[ExportFile]:
    """This learner's export files, newest first."""
    folder = data_dir / FOLDER
    if not folder.is_dir():
        return []
    found = [f for f in (_parse(p) for p in folder.glob(f"{learner_id}-*.json")) if f and f.learner_id == learner_id]
    return sorted(found, key=lambda f: f.written_at, reverse=True)


def current(data_dir: Path, learner_id: int, now: datetime) -> ExportFile | None:
    """The file whose link still works, if the learner was sent one in the last LINK_HOURS."""
    for found in files_of(data_dir, learner_id):
        if found.written_at <= now < found.expires_at:
            return found
    return None


def write(data_dir: Path, learner_id: int, data: dict, now: datetime) -> ExportFile:
    """The export as data/exports/<id>-<time>-<random>.json, readable by the box's user only (0600, folder 0700)."""
    folder = data_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{learner_id}-{now.astimezone(UTC).strftime(_STAMP)}-{secrets.token_urlsafe(18)}.json"
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    temporary = folder / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    found = _parse(folder / name)
    assert found is not None  # the name was made to match
    return found


def prune(data_dir: Path, now: datetime) -> int:
    """Remove export files whose link has expired (the nightly housekeeping); also leftovers of a failed write."""
    folder = data_dir / FOLDER
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        found = _parse(path)
        stale = found.expires_at <= now if found else path.name.endswith(".tmp")
        if stale and path.is_file():
            try:
                path.unlink()
                removed += 1
            except OSError:
                log.warning("could not remove an expired export", extra={"path": path.name})
    return removed


def send(conn: sqlite3.Connection, settings: Settings, texts: Texts, learner_id: int, key: str, now: datetime) -> str:
    """The worker's half of MYDATA's export, for the request `key`: write the file (or reuse the one whose link
    still works), then send the link through the outbox and settle the request, in one transaction. Idempotent:
    the outbox row's key is the request's, so a retried task sends nothing twice."""
    with transaction(conn):
        pending = conn.execute(
            "SELECT status FROM deliveries WHERE learner_id = ? AND kind = ? AND key = ?", (learner_id, KIND, key)
        ).fetchone()
        row = conn.execute(
            "SELECT channel, channel_key, language, status FROM learners WHERE id = ?", (learner_id,)
        ).fetchone()
        if pending is None or pending["status"] != "pending" or row is None or row["status"] == "deleted":
            return "skipped"
        found = current(settings.data_dir, learner_id, now)
        text_key = "account.export_again"
        if found is None:
            found = write(settings.data_dir, learner_id, learners.export_learner(conn, learner_id), now)
            text_key = "account.export_ready"
        url = signed_media_url(settings, ensure_secret_key(conn, settings), found.relative_path, found.expires_at)
        draft = OutboxDraft(
            body=texts.t(row["language"], text_key, url=url, hours=LINK_HOURS),
            idempotency_key=f"{KIND}:{learner_id}:{key}",
        )
        enqueue_outbound(
            conn, learner_id=learner_id, channel=row["channel"], address=row["channel_key"], draft=draft, now=now
        )
        conn.execute(
            "UPDATE deliveries SET status = 'done' WHERE learner_id = ? AND kind = ? AND key = ?",
            (learner_id, KIND, key),
        )
    log.info("data export sent", extra={"learner_id": learner_id, "reused": text_key == "account.export_again"})
    return "sent" if text_key == "account.export_ready" else "resent"


def pending_requests(conn: sqlite3.Connection, before: datetime, limit: int = 100) -> list[tuple[int, str]]:
    """(learner_id, key) of export requests whose task seems lost (Huey may drop a task)."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            """SELECT learner_id, key FROM deliveries WHERE kind = ? AND status = 'pending' AND created_at < ?
               ORDER BY id LIMIT ?""",
            (KIND, before.isoformat(), limit),
        )
    ]
