"""The Huey instance: built from Settings, never at import time."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from huey import Huey, SqliteHuey
from huey.storage import SqliteStorage

from coachbox.core.config import Settings
from coachbox.core.errors import UserError
from coachbox.store import checkpoint

log = logging.getLogger("coachbox.jobs")


class _QueueStorage(SqliteStorage):
    """SqliteStorage with our WAL-reset mitigation: no auto-checkpoints (see coachbox.store).

    With auto-checkpoints off nothing else ever resets queue.db's WAL, so, like the main database's writer
    (`Database.WAL_CHECKPOINT_BYTES`), the queue TRUNCATE-checkpoints it once it passes 8 MB: checked after an
    enqueue at most every CHECK_SECONDS (a `stat`), and on every run of the periodic `checkpoint` task. The
    checkpoint runs under Huey's connection lock and outside any transaction (Huey's writes autocommit), so it
    cannot race one of this process's writes; another process's writer makes it report busy after `wait_ms`.
    """

    WAL_CHECKPOINT_BYTES = 8 * 1024 * 1024
    CHECK_SECONDS = 0.5

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._wal = Path(f"{self.filename}-wal")
        self._next_check = 0.0

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def enqueue(self, data, priority=None):
        super().enqueue(data, priority=priority)
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.CHECK_SECONDS
            self.checkpoint_if_large()

    def wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    def checkpoint_if_large(self) -> tuple[int, int, int] | None:
        if self.wal_bytes() < self.WAL_CHECKPOINT_BYTES:
            return None
        return self.checkpoint(wait_ms=50)

    def checkpoint(self, *, wait_ms: int = 250) -> tuple[int, int, int] | None:
        """TRUNCATE-checkpoint queue.db's WAL (coachbox.store.checkpoint); None if this process is mid-write."""

        with self.lock:
            conn = self.conn
            if conn.in_transaction:
                return None
            result = checkpoint(conn, wait_ms=wait_ms)
        log.debug("queue wal checkpoint", extra={"busy": result[0], "wal_pages": result[1], "checkpointed": result[2]})
        return result


class CoachboxHuey(SqliteHuey):
    storage_class = _QueueStorage


def create_huey(settings: Settings, *, immediate: bool = False) -> SqliteHuey:
    """One queue per data folder; immediate mode runs tasks inline (unit tests only)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        huey = CoachboxHuey(
            "coachbox",
            filename=str(settings.queue_path),
            immediate=immediate,
            utc=True,
            timeout=30,
        )
    except sqlite3.DatabaseError as exc:
        # `coachbox run`, `serve` and `worker` move a broken queue aside before their processes start
        # (roots.appliance.init_box); this one broke while the box was running.
        raise UserError(
            f"{settings.queue_path}: the queue database is unusable ({exc}). Restart coachbox: it moves a broken "
            f"queue aside and makes a new one. Or stop it and delete {settings.queue_path}*; no learner data is "
            "lost (the outbox and schedules are in coachbox.db)."
        ) from None
    return huey


@dataclass(frozen=True)
class QueueCounts:
    """Background jobs in the queue: `waiting` for a worker now, `scheduled` for a later time; None: unreadable."""

    waiting: int | None
    scheduled: int | None

    def shown(self) -> dict[str, str]:
        """The dashboard's live fields ("?" when the queue could not be read)."""
        return {
            "jobs_waiting": "?" if self.waiting is None else f"{self.waiting:,}",
            "jobs_scheduled": "?" if self.scheduled is None else f"{self.scheduled:,}",
        }


def queue_counts(huey: Huey) -> QueueCounts:
    """The one reading of the queue that the dashboard (and its live updates) and the Operations page both show,
    so they never disagree. A broken or locked queue reads as unknown rather than failing the page."""
    try:
        return QueueCounts(huey.pending_count(), huey.scheduled_count())
    except Exception:  # noqa: BLE001 - shown as "unknown"
        log.warning("queue counts unreadable", exc_info=True)
        return QueueCounts(None, None)
