"""Commands that only read create nothing (a fresh clone stays as it was), and any command's output may be cut
short by its reader (`coachbox jobs | head`) without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coachbox import store
from coachbox.cli.main import main
from tests.conftest import clock_environ

REPO = Path(__file__).resolve().parents[2]


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env.update({"COACHBOX_PATHS_DATA_DIR": str(data), "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content")})
    return env


@pytest.mark.parametrize("argv", [["jobs"], ["jobs", "--json"], ["export", "out"]])
def test_a_read_only_command_on_a_fresh_clone_creates_nothing(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["--config", str(REPO / "coachbox.toml"), *argv]) == 1
    err = capsys.readouterr().err
    assert "no database yet" in err and "run `coachbox init`" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no data folder, no database, no export folder


def test_listing_jobs_leaves_the_data_folder_as_it_was(settings, monkeypatch, capsys):
    store.open_database(settings.db_path).close()  # an initialised box that is not running
    before = sorted(p.name for p in settings.data_dir.iterdir())
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    assert main(["--config", str(REPO / "coachbox.toml"), "jobs"]) == 0
    assert "checkpoint" in capsys.readouterr().out
    assert sorted(p.name for p in settings.data_dir.iterdir()) == before  # not even a -wal or -shm


def test_a_reader_that_goes_away_ends_the_command_quietly(settings, instant):
    """As `coachbox jobs | head -1` does: the pipe closes before the command has written everything."""
    store.open_database(settings.db_path).close()
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "coachbox", "--config", str(REPO / "coachbox.toml"), "jobs"],
            env={**_env(settings.data_dir), **clock_environ(instant)},
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
