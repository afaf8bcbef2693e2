"""Daily-lesson fan-out bench: 100,000 learners due in the same minute → all lessons in the outbox.

Prints: bare executemany baseline, the fan-out (batched transactions through the real conversation engine),
the per-minute scan when nobody is due, the fan-out process's peak RSS, and learner-turn latency (what a
webhook does) measured in a second process while the fan-out runs.

    .venv/bin/python bench/fanout_bench.py            # 100,000 learners
    .venv/bin/python bench/fanout_bench.py --scale 0.1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DUE = datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)  # 07:00 in East Africa
ZONES = ("Africa/Nairobi", "Africa/Kampala", "Africa/Dar_es_Salaam", "Africa/Addis_Ababa")


def _settings(data_dir: Path):
    from coachbox.config import Settings

    return Settings.load(REPO / "coachbox.toml", {
        "COACHBOX_PATHS_DATA_DIR": str(data_dir), "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
    })


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
            ((i, f"whatsapp:+2547{i:08d}", f"+2547{i:08d}", f"Learner {i}", ZONES[i % len(ZONES)], course, inbound,
              DUE.isoformat(), stamp, stamp) for i in range(1, count + 1)))
        conn.executemany("INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, ?)",
                         ((i, course, stamp) for i in range(1, count + 1)))
    conn.execute("ANALYZE")
    conn.close()


def baseline(settings, count: int) -> float:
    """The floor: one executemany of `count` outbox-shaped rows into a scratch table, one commit."""
    from coachbox import store

    conn = store.connect(settings.db_path)
    conn.execute("CREATE TEMP TABLE scratch AS SELECT * FROM messages WHERE 0")
    stamp = DUE.isoformat()
    rows = [(i, "out", "whatsapp", f"whatsapp:+2547{i:08d}", "Lesson body " * 40, "lesson", f"lesson:{i}", "queued",
             stamp, stamp, stamp) for i in range(1, count + 1)]
    started = time.perf_counter()
    with store.transaction(conn):
        conn.executemany(
            """INSERT INTO scratch (learner_id, direction, channel, address, body, kind, idempotency_key, status,
                                    next_attempt_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""", rows)
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
    started = time.perf_counter()
    report = run_daily_lessons(conn, coach, now)
    elapsed = time.perf_counter() - started
    empty = []
    for _ in range(50):
        t0 = time.perf_counter()
        run_daily_lessons(conn, coach, now + timedelta(minutes=1))
        empty.append(time.perf_counter() - t0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.put({"elapsed": elapsed, "sent": report.sent, "batches": report.batches, "summary": report.summary(),
                "empty_ms": statistics.median(empty) * 1000, "empty_max_ms": max(empty) * 1000, "rss_mb": rss_mb})


def _turn_latencies(settings, stop_when, learners: int) -> list[float]:
    """Learner turns (the webhook's work) on their own connection, every 20 ms, while the fan-out runs."""
    import diskcache

    from coachbox import store
    from coachbox.channels.base import Inbound
    from coachbox.conversation.service import Resources, handle_inbound_sync

    conn = store.connect(settings.db_path)
    cache = diskcache.Cache(str(settings.cache_dir), timeout=60)
    res = Resources.build(settings)
    catalogue = res.catalogue(conn)
    samples, n = [], 0
    while not stop_when():
        n += 1
        i = 1 + (n * 7919) % learners
        inbound = Inbound("whatsapp", f"whatsapp:+2547{i:08d}", "progress", f"SMbench{n:08d}",
                          DUE + timedelta(seconds=20), phone=f"+2547{i:08d}")
        t0 = time.perf_counter()
        handle_inbound_sync(conn, cache, settings, catalogue, res.texts, inbound, DUE + timedelta(seconds=20))
        samples.append(time.perf_counter() - t0)
        time.sleep(0.02)
    cache.close()
    conn.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 learners")
    args = parser.parse_args()
    count = max(100, int(100_000 * args.scale))
    with tempfile.TemporaryDirectory(prefix="coachbox-fanout-") as tmp:
        data_dir = Path(tmp) / "data"
        settings = _settings(data_dir)
        t0 = time.perf_counter()
        seed(settings, count)
        print(f"seeded {count:,} learners in {time.perf_counter() - t0:.1f} s")
        base = baseline(settings, count)
        print(f"baseline: executemany of {count:,} outbox-shaped rows, one commit: {base:.2f} s")
        result: mp.Queue = mp.get_context("spawn").Queue()
        child = mp.get_context("spawn").Process(target=_fanout_child, args=(str(data_dir), result))
        child.start()
        latencies = _turn_latencies(settings, lambda: not child.is_alive() or not result.empty(), count)
        child.join()
        out = result.get()
        conn = __import__("coachbox.store", fromlist=["connect"]).connect(settings.db_path)
        rows = conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND kind != 'reply' "
                            "OR (direction = 'out' AND idempotency_key LIKE 'daily_lesson:%')").fetchone()[0]
        done = conn.execute("SELECT COUNT(*) FROM deliveries WHERE kind = 'daily_lesson' AND status = 'done'").fetchone()[0]
        conn.close()
        per = out["elapsed"] / max(1, out["sent"]) * 1e6
        print(f"fan-out: {out['sent']:,} lessons ({done:,} delivery rows, {rows:,} outbox rows) in "
              f"{out['elapsed']:.2f} s = {per:.0f} µs/learner, {out['batches']} batches "
              f"({out['elapsed'] / base:.0f}x the baseline) — target < 10 s at 100k")
        print(f"per-minute scan with nobody due: median {out['empty_ms']:.2f} ms, max {out['empty_max_ms']:.2f} ms "
              f"— target < 50 ms")
        print(f"fan-out process peak RSS: {out['rss_mb']:.0f} MB — target < 500 MB")
        if latencies:
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            print(f"learner turns during the fan-out: {len(latencies)} turns, median "
                  f"{statistics.median(latencies) * 1000:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms "
                  f"— target p99 < 250 ms")


if __name__ == "__main__":
    main()
