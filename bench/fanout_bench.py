"""Daily-lesson fan-out bench: 100,000 learners due in the same minute → all lessons in the outbox.

Prints: bare executemany baseline, the fan-out (batched transactions through the real conversation engine),
the per-minute scan when nobody is due, the fan-out process's peak RSS, and learner-turn latency (what a
webhook does) measured in a second process while the fan-out runs.

    .venv/bin/python bench/fanout_bench.py            # 100,000 learners
    .venv/bin/python bench/fanout_bench.py --scale 0.1   (or --quick: 5,000)

Targets (issue 4): < 10 s per 100,000 learners, scan with nobody due < 50 ms, RSS < 500 MB, turn p99 < 250 ms.
Prints one JSON object per figure; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DUE = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 07:00 in East Africa
ZONES = ("Africa/Nairobi", "Africa/Kampala", "Africa/Dar_es_Salaam", "Africa/Addis_Ababa")


def _settings(data_dir: Path):
    from coachbox.core.config import Settings

    return Settings.load(
        REPO / "coachbox.toml",
        {
            "COACHBOX_PATHS_DATA_DIR": str(data_dir),
            "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
            "COACHBOX_LOG_LEVEL": "WARNING",
        },
    )


def seed(settings, count: int) -> None:
    """`count` active learners on lesson 1 of the sample course, all due at DUE, in one transaction."""
    from coachbox import store
    from coachbox.content.importer import import_folder

    conn = store.open_database(settings.db_path)
    import_folder(conn, settings.content_dir, settings, progress=None)
    course = conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]
    stamp = "2026-02-01T00:00:00+00:00"
    inbound = (DUE - timedelta(hours=3)).isoformat()
    with store.transaction(conn):
        conn.executemany(
            """INSERT INTO learners (id, channel_key, channel, phone, name, language, timezone, lesson_time, status,
                                     current_course_id, last_inbound_at, next_lesson_at, created_at, updated_at)
               VALUES (?, ?, 'whatsapp', ?, ?, 'en', ?, '07:00', 'active', ?, ?, ?, ?, ?)""",
            (
                (
                    i,
                    f"whatsapp:+2547{i:08d}",
                    f"+2547{i:08d}",
                    f"Learner {i}",
                    ZONES[i % len(ZONES)],
                    course,
                    inbound,
                    DUE.isoformat(),
                    stamp,
                    stamp,
                )
                for i in range(1, count + 1)
            ),
        )
        conn.executemany(
            "INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, ?)",
            ((i, course, stamp) for i in range(1, count + 1)),
        )
    conn.execute("ANALYZE")
    conn.close()


def baseline(settings, count: int) -> float:
    """The floor: one executemany of `count` outbox-shaped rows into a scratch table, one commit."""
    from coachbox import store

    conn = store.connect(settings.db_path)
    conn.execute("CREATE TEMP TABLE scratch AS SELECT * FROM messages WHERE 0")
    stamp = DUE.isoformat()
    rows = [
        (
            i,
            "out",
            "whatsapp",
            f"whatsapp:+2547{i:08d}",
            "Lesson body " * 40,
            "lesson",
            f"lesson:{i}",
            "queued",
            stamp,
            stamp,
            stamp,
        )
        for i in range(1, count + 1)
    ]
    started = time.perf_counter()
    with store.transaction(conn):
        conn.executemany(
            """INSERT INTO scratch (learner_id, direction, channel, address, body, kind, idempotency_key, status,
                                    next_attempt_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
            rows,
        )
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _fanout_child(data_dir: str, result: mp.Queue) -> None:
    import diskcache

    from coachbox import store
    from coachbox.schedule.coach import Coach
    from coachbox.schedule.daily import run_daily_lessons

    settings = _settings(Path(data_dir))
    conn = store.connect(settings.db_path)
    cache = diskcache.Cache(str(settings.cache_dir), timeout=60)
    coach = Coach(settings, cache)
    coach.resources.catalogue(conn)  # warm: the worker has it loaded long before 07:00
    now = DUE + timedelta(seconds=20)
    started, cpu = time.perf_counter(), time.process_time()
    report = run_daily_lessons(conn, coach, now)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    empty = []
    for _ in range(50):
        t0 = time.perf_counter()
        run_daily_lessons(conn, coach, now + timedelta(minutes=1))
        empty.append(time.perf_counter() - t0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.put(
        {
            "elapsed": elapsed,
            "cpu": cpu,
            "sent": report.sent,
            "batches": report.batches,
            "summary": report.summary(),
            "empty_ms": statistics.median(empty) * 1000,
            "empty_max_ms": max(empty) * 1000,
            "rss_mb": rss_mb,
        }
    )


def _turn_latencies(settings, stop_when, learners: int) -> list[float]:
    """Learner turns (the webhook's work) on their own connection, every 20 ms, while the fan-out runs."""
    import diskcache

    from coachbox import store
    from coachbox.channels.base import Inbound
    from coachbox.turns.runner import Resources, handle_inbound_sync

    conn = store.connect(settings.db_path)
    cache = diskcache.Cache(str(settings.cache_dir), timeout=60)
    res = Resources.build(settings)
    catalogue = res.catalogue(conn)
    samples, n = [], 0
    while not stop_when():
        n += 1
        i = 1 + (n * 7919) % learners
        inbound = Inbound(
            "whatsapp",
            f"whatsapp:+2547{i:08d}",
            "progress",
            f"SMbench{n:08d}",
            DUE + timedelta(seconds=20),
            phone=f"+2547{i:08d}",
        )
        t0 = time.perf_counter()
        handle_inbound_sync(conn, cache, settings, catalogue, res.texts, inbound, DUE + timedelta(seconds=20))
        samples.append(time.perf_counter() - t0)
        time.sleep(0.02)
    cache.close()
    conn.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 learners")
    parser.add_argument("--quick", action="store_true", help="5,000 learners (targets scaled alike)")
    args = parser.parse_args()
    scale = 0.05 if args.quick else args.scale
    count = max(100, int(100_000 * scale))
    with tempfile.TemporaryDirectory(prefix="coachbox-fanout-") as tmp:
        data_dir = Path(tmp) / "data"
        settings = _settings(data_dir)
        t0 = time.perf_counter()
        seed(settings, count)
        seeded = time.perf_counter() - t0
        base = baseline(settings, count)
        result: mp.Queue = mp.get_context("spawn").Queue()
        child = mp.get_context("spawn").Process(target=_fanout_child, args=(str(data_dir), result))
        child.start()
        latencies = _turn_latencies(settings, lambda: not child.is_alive() or not result.empty(), count)
        child.join()
        out = result.get()
        conn = __import__("coachbox.store", fromlist=["connect"]).connect(settings.db_path)
        rows = conn.execute("SELECT COUNT(*) FROM messages WHERE idempotency_key LIKE 'daily_lesson:%'").fetchone()[0]
        done = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE kind = 'daily_lesson' AND status = 'done'"
        ).fetchone()[0]
        conn.close()
    target = 10.0 * count / 100_000
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0.0
    figures = [
        {"bench": "fanout", "what": "seed learners", "learners": count, "seconds": round(seeded, 2)},
        {
            "bench": "fanout",
            "what": "baseline: one executemany of outbox-shaped rows, one commit",
            "rows": count,
            "seconds": round(base, 3),
        },
        {
            "bench": "fanout",
            "what": "daily-lesson fan-out through the conversation engine",
            "learners": count,
            "lessons": out["sent"],
            "delivery_rows": done,
            "outbox_rows": rows,
            "batches": out["batches"],
            "seconds": round(out["elapsed"], 2),
            "cpu_seconds": round(out["cpu"], 2),
            "us_per_learner": round(out["elapsed"] / max(1, out["sent"]) * 1e6),
            "x_baseline": round(out["elapsed"] / base),
            "target_seconds": target,
            "ok": out["elapsed"] < target,
        },
        {
            "bench": "fanout",
            "what": "per-minute scan, nobody due",
            "median_ms": round(out["empty_ms"], 3),
            "max_ms": round(out["empty_max_ms"], 3),
            "target_ms": 50,
            "ok": out["empty_max_ms"] < 50,
        },
        {
            "bench": "fanout",
            "what": "fan-out process peak RSS",
            "mb": round(out["rss_mb"]),
            "target_mb": 500,
            "ok": out["rss_mb"] < 500,
        },
        {
            "bench": "fanout",
            "what": "learner turns (webhook work) during the fan-out",
            "turns": len(latencies),
            "median_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p99_ms": round(p99, 1),
            "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "target_p99_ms": 250,
            "ok": p99 < 250,
        },
    ]
    for figure in figures:
        print(json.dumps(figure, ensure_ascii=False), flush=True)
    return 0 if all(f.get("ok", True) for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
