"""What limiting a teacher to classes costs: the Learners list, one learner's page and the Classes page.

Run: .venv/bin/python bench/classes_scope_bench.py [--learners 100000] [--classes 20]
Prints one JSON object per line (milliseconds, median of 7). Learners are spread evenly over the classes (their
main class, so learner_classes holds one row each, as migration 0021 leaves a box), one in a thousand erased.
Question: does the scope's WHERE (admin.scope.LearnerScope.sql) keep the admin pages quick at a big school?
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coachbox import store  # noqa: E402
from coachbox.admin.scope import EVERYONE, LearnerScope  # noqa: E402
from coachbox.store import classes  # noqa: E402
from coachbox.store import learners as q  # noqa: E402

NOW = datetime(2026, 3, 2, 5, tzinfo=UTC)


def median_ms(fn: Callable[[], object], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=20)
    args = parser.parse_args()
    conn = store.open_database(Path(tempfile.mkdtemp()) / "bench.db")
    stamp = NOW.isoformat()
    with store.transaction(conn):
        conn.executemany(
            """INSERT INTO learners (channel_key, channel, phone, name, status, cohort, created_at, updated_at)
               VALUES (?, 'whatsapp', ?, ?, ?, ?, ?, ?)""",
            [
                (
                    f"whatsapp:+2547{i:08d}",
                    f"+2547{i:08d}",
                    f"Learner {i}",
                    "deleted" if i % 1000 == 999 else "active",
                    f"Form {i % args.classes}",
                    stamp,
                    stamp,
                )
                for i in range(args.learners)
            ],
        )
    one = LearnerScope(False, ("Form 3",))
    three = LearnerScope(False, ("Form 3", "Form 4", "Form 5"))
    middle = args.learners // 2 + 3  # in Form 3 when there are 20 classes
    print(json.dumps({"learners": args.learners, "classes": args.classes}))
    for name, scope in (("everyone", EVERYONE), ("1 class", one), ("3 classes", three)):
        where = scope.sql("l.id")
        print(
            json.dumps(
                {
                    "scope": name,
                    "learners_page_ms": median_ms(lambda w=where: q.search(conn, q.LearnerFilter(scope=w), NOW)),
                    "search_by_name_ms": median_ms(
                        lambda w=where: q.search(conn, q.LearnerFilter(q="Learner 99", scope=w), NOW)
                    ),
                    "one_learner_ms": median_ms(lambda w=where: q.learner(conn, middle, w), 21),
                    "one_learner_sql_one_ms": median_ms(lambda s=scope: q.learner(conn, middle, s.sql_one("l.id")), 21),
                }
            )
        )
    print(json.dumps({"classes_page_ms": median_ms(lambda: classes.list_classes(conn))}))


if __name__ == "__main__":
    main()
