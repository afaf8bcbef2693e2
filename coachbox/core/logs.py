"""Logging set-up: one JSON object per line to stdout and a rotating file under data/logs/."""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime

from coachbox.core.config import Settings

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, str | int | float | None] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            payload["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(settings: Settings, *, to_file: bool = True) -> None:
    """Configure the root 'coachbox' logger once per process."""
    logger = logging.getLogger("coachbox")
    logger.setLevel(settings.log.level.upper())
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = (
        JsonFormatter() if settings.log.json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(formatter)
    logger.addHandler(stream)
    if to_file:
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            log_dir / "coachbox.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8"
        )
        rotating.setFormatter(JsonFormatter())
        logger.addHandler(rotating)
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
