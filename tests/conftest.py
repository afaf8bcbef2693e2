"""Shared fixtures: a temporary data folder, settings, a migrated database, services, the app, a fake clock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sanic import Sanic

from coachbox import store
from coachbox.core.clock import FakeClock
from coachbox.core.config import Settings

REPO = Path(__file__).resolve().parent.parent
Sanic.test_mode = True  # allow one app per test with the same name


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data folder, the repo's content, and the simulator channel."""
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
    }
    return Settings.load(REPO / "coachbox.toml", environ)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-03-02T05:00:00+00:00")  # a Monday, 08:00 in Nairobi


@pytest.fixture
def conn(settings: Settings) -> sqlite3.Connection:
    connection = store.open_database(settings.db_path)
    yield connection
    connection.close()


@pytest.fixture
def services(settings: Settings, conn: sqlite3.Connection, clock: FakeClock):
    """Services on the migrated database with Huey in immediate mode (tasks run inline)."""
    from coachbox.jobs.queue import create_huey
    from coachbox.roots.services import build_services

    built = build_services(settings, clock=clock, huey=create_huey(settings, immediate=True))
    yield built
    built.close_sync()


@pytest.fixture
def app(settings: Settings, services):
    from coachbox.roots.app import create_app

    return create_app(settings, services)
