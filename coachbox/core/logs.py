"""Logging set-up: every process writes JSON lines to data/logs/coachbox.log and short human lines to the console."""

from __future__ import annotations

import contextvars
import fcntl
import json
import logging
import logging.handlers
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from coachbox.core.config import Settings

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# Fields of the web request being served (ip, route), added to every line logged while serving it.
request_fields: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("request_fields", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
LOG_FILE_BYTES = 5_000_000
LOG_FILE_BACKUPS = 5


def _fields(record: logging.LogRecord) -> dict[str, str | int | float | bool | None]:
    """The request's fields and the record's `extra=` fields, as JSON-safe values."""
    fields: dict[str, str | int | float | bool | None] = {}
    rid = request_id.get()
    if rid:
        fields["request_id"] = rid
    fields.update(request_fields.get() or {})
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            fields[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, str | int | float | bool | None] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName if record.processName != "MainProcess" else "main",
            "msg": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """One short line a person reads: `05:03:12 WARNING web: request rejected status=400 path=/x`."""

    def format(self, record: logging.LogRecord) -> str:
        clock = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        name = record.name.removeprefix("coachbox.").removeprefix("coachbox") or "coachbox"
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items() if key != "request_id")
        line = f"{clock} {record.levelname} {name}: {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class SharedRotatingFileHandler(logging.handlers.WatchedFileHandler):
    """Appends from several processes to one file and rotates it by size without losing lines.

    The standard RotatingFileHandler is for one process: under `coachbox run` the supervisor, every web worker
    and the Huey consumer each rotated the same file on their own. Here every write is an O_APPEND write of one
    whole line; when the file passes `max_bytes`, the first process to notice renames the files under an flock
    (so only one rotates), and every process reopens the new file on its next line (WatchedFileHandler notices
    the new inode).
    """

    CHECK_SECONDS = 1.0  # a size check is a stat(): at most once a second per process

    def __init__(self, path: Path, *, max_bytes: int = LOG_FILE_BYTES, backups: int = LOG_FILE_BACKUPS) -> None:
        super().__init__(str(path), encoding="utf-8")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._next_check = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.CHECK_SECONDS
            self._rotate_if_large()

    def _rotate_if_large(self) -> None:
        try:
            if self.path.stat().st_size < self.max_bytes:
                return
            with open(self.path.with_name(".rotate.lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if self.path.stat().st_size < self.max_bytes:
                    return  # another process rotated it while we waited
                for index in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{index}")
                    if older.exists():
                        os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        except OSError:
            return  # a full or read-only disk must not stop the process; the line itself was written or not
        self.reopenIfNeeded()


def setup_logging(settings: Settings, *, to_file: bool = True) -> None:
    """Configure the 'coachbox' logger in this process (every process calls it: supervisor, web workers, worker)."""
    logger = logging.getLogger("coachbox")
    logger.setLevel(settings.log.level.upper())
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(JsonFormatter() if settings.log.json else ConsoleFormatter())
    logger.addHandler(stream)
    if to_file:
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        shared = SharedRotatingFileHandler(log_dir / "coachbox.log")
        shared.setFormatter(JsonFormatter())
        logger.addHandler(shared)
    logger.propagate = False


def sanic_log_config() -> dict:
    """Sanic's own loggers stay quiet below WARNING; our JSON log carries what matters."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "sanic.root": {"level": "WARNING"},
            "sanic.error": {"level": "WARNING"},
            "sanic.access": {"level": "WARNING"},
            "sanic.server": {"level": "INFO"},
        },
    }
