"""Shared fixtures: a temporary data folder, settings, a migrated database, services, the app, a fake clock."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sanic import Sanic

from coachbox import store
from coachbox.core.clock import TEST_NOW_VARIABLE, FakeClock, encode_test_now, parse_test_now
from coachbox.core.config import ConfigError, Settings
from coachbox.jobs.queue import create_huey
from coachbox.roots.app import create_app
from coachbox.roots.services import build_services
from tests import asgi

REPO = Path(__file__).resolve().parent.parent
Sanic.test_mode = True  # allow one app per test with the same name
asgi.install()  # the in-process test client starts an app once, not at every request (tests/asgi.py)

# Tests never read the real time: no test may depend on the hour, weekday or date it runs at. A test's instant (its
# `clock` fixture, and the COACHBOX_TEST_NOW of the processes it starts) is, first found:
#   - its own, `@pytest.mark.at(DAYTIME)`, when what it asserts needs one (a message goes out: DAYTIME; it is
#     held for quiet hours: NIGHT);
#   - for a time-sensitive test, the run's `--at` (default: COACHBOX_TEST_NOW in pytest's environment, else
#     DEFAULT_NOW): `make test` runs those again at a night and a day instant, and they must pass at any;
#   - DEFAULT_NOW, fixed (the dates other tests assert count from it).
DEFAULT_NOW = "2026-03-02T05:00:00+00:00"  # Monday 2 March 2026, 08:00 in Nairobi
DAYTIME = "2026-03-02T05:00:00+00:00"  # Monday 08:00 in Nairobi, outside quiet hours (21:00-07:00)
NIGHT = "2026-03-02T20:30:00+00:00"  # Monday 23:30 in Nairobi, inside quiet hours

# Time-sensitive tests (marker `time_sensitive`): those whose outcome could follow the instant they run at. The
# scheduler (lessons, reminders, follow-ups, broadcasts, weekly summaries, streaks at midnight), quiet hours,
# streaks and the browser tests (they wait for messages quiet hours would hold).
TIME_SENSITIVE = (
    "tests/schedule/",
    "tests/channels/test_quiet_hours.py",
    "tests/learning/test_streaks_badges.py",
    "tests/admin/test_browser.py",
)
_NOW = pytest.StashKey[datetime]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--at",
        metavar="INSTANT",
        default=None,
        help=f"the instant time-sensitive tests run at (ISO 8601 with offset, e.g. 2026-03-02T20:30:00+00:00): "
        f"their `clock` starts there and the processes they start get it as {TEST_NOW_VARIABLE}. Default: "
        f"${TEST_NOW_VARIABLE}, else {DEFAULT_NOW}.",
    )


# Every process a test starts inherits this mark in its environment, so one that outlives its test module (a
# server's worker left with parent PID 1) is found even after its parent has gone.
SESSION_MARK = "COACHBOX_TEST_SESSION"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)
    # Under pytest-xdist each worker has a mark of its own: a worker's module that ends must not take the servers
    # another worker's module is still using for leftovers (nor kill them).
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker and not os.environ[SESSION_MARK].endswith(f"-{worker}"):
        os.environ[SESSION_MARK] += f"-{worker}"
    value = config.getoption("--at") or os.environ.get(TEST_NOW_VARIABLE) or DEFAULT_NOW
    try:
        config.stash[_NOW], _ = parse_test_now(value)
    except ConfigError as exc:
        raise pytest.UsageError(f"--at: {exc}") from None


def pytest_report_header(config: pytest.Config) -> str:
    return f"time-sensitive tests run at {config.stash[_NOW].isoformat()} (--at)"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m time_sensitive` (make test's extra runs): do not even import the modules that hold none (~7 s)."""
    if config.getoption("markexpr") != "time_sensitive" or not collection_path.name.startswith("test_"):
        return None
    if not collection_path.is_relative_to(REPO):
        return None
    path = collection_path.relative_to(REPO).as_posix() + ("/" if collection_path.is_dir() else "")
    return None if path.startswith(TIME_SENSITIVE) else True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(REPO).as_posix()
        if path.startswith(TIME_SENSITIVE):
            item.add_marker(pytest.mark.time_sensitive)


def clock_environ(when: datetime | str) -> dict[str, str]:
    """The environment entry that starts a child process's clock at `when` (now, in real time): spread it into
    the env of every `coachbox serve`/`run`/`worker` a test starts, so the child never reads the real time."""
    return {TEST_NOW_VARIABLE: encode_test_now(when)}


@pytest.fixture(scope="session")
def run_instant(pytestconfig: pytest.Config) -> datetime:
    """The run's `--at` instant: for a fixture that a module's time-sensitive tests share (a server process)."""
    return pytestconfig.stash[_NOW]


@pytest.fixture
def instant(request: pytest.FixtureRequest, run_instant: datetime) -> datetime:
    """The instant this test runs at (see DEFAULT_NOW above): where its `clock` starts, and its processes' clocks."""
    marker = request.node.get_closest_marker("at")
    if marker is not None:
        return parse_test_now(marker.args[0])[0]
    if request.node.get_closest_marker("time_sensitive") is not None:
        return run_instant
    return parse_test_now(DEFAULT_NOW)[0]


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
def clock(instant: datetime) -> FakeClock:
    """A clock at the test's instant that moves only when told."""
    return FakeClock(instant)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with every migration applied, made once per run (per xdist worker): `conn` starts from a copy of
    it, which saves migrating from scratch (~75 ms) in each of the ~1,000 tests that use a database."""
    path = tmp_path_factory.mktemp("template") / "coachbox.db"
    store.open_database(path).close()  # the last connection to close checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def conn(settings: Settings, migrated_template: Path) -> sqlite3.Connection:
    if not settings.db_path.exists():
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_template, settings.db_path)
    connection = store.open_database(settings.db_path)  # still migrates: nothing left to apply
    yield connection
    connection.close()


@pytest.fixture
def services(settings: Settings, conn: sqlite3.Connection, clock: FakeClock):
    """Services on the migrated database with Huey in immediate mode (tasks run inline)."""
    built = build_services(settings, clock=clock, huey=create_huey(settings, immediate=True))
    yield built
    built.close_sync()


@pytest.fixture
def app(settings: Settings, services):
    return create_app(settings, services)


def processes_of_this_session() -> list[str]:
    """Live processes (other than pytest itself) that carry this session's mark: started by a test, at any depth."""
    mark = f"{SESSION_MARK}={os.environ[SESSION_MARK]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:160]
        except OSError:
            continue
        found.append(f"{entry.name}: {command}")
    return found


@pytest.fixture(autouse=True, scope="module")
def _no_process_outlives_its_module():
    """Every process a test starts is gone when its module's tests end (servers shared by a module included)."""
    yield
    deadline = time.monotonic() + 5  # a stopped server's workers take a moment to exit
    while (left := processes_of_this_session()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        for line in left:
            try:
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        pytest.fail("processes outlived their test module (now killed):\n" + "\n".join(left))
