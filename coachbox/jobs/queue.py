"""The Huey instance: built from Settings, never at import time."""

from __future__ import annotations

import sqlite3

from huey import SqliteHuey
from huey.storage import SqliteStorage

from coachbox.config import Settings


class _QueueStorage(SqliteStorage):
    """SqliteStorage with our WAL-reset mitigation: no auto-checkpoints (see coachbox.store)."""

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn


class CoachboxHuey(SqliteHuey):
    storage_class = _QueueStorage


def create_huey(settings: Settings, *, immediate: bool = False) -> SqliteHuey:
    """One queue per data folder; immediate mode runs tasks inline (unit tests only)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    huey = CoachboxHuey(
        "coachbox",
        filename=str(settings.queue_path),
        immediate=immediate,
        utc=True,
        timeout=30,
    )
    return huey
