"""Child process for the crash test: one fan-out at a given instant, printing a line after each committed batch."""

from __future__ import annotations

import sys
from datetime import datetime

import diskcache

from coachbox import store
from coachbox.core.config import Settings
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import run_daily_lessons


def main(config: str, now: str) -> None:
    settings = Settings.load(config)
    conn = store.connect(settings.db_path)
    cache = diskcache.Cache(str(settings.cache_dir), timeout=60)
    report = run_daily_lessons(
        conn,
        Coach(settings, cache),
        datetime.fromisoformat(now),
        batch=50,
        after_batch=lambda n: print(f"batch {n}", flush=True),
    )
    print(f"done {report.summary()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
