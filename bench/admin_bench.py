"""Admin page render times on a big database: dashboard, learner search, a transcript, vs a bare baseline.

    .venv/bin/python bench/admin_bench.py --scale 0.1     # 10,000 learners, 500,000 messages (quick)
    .venv/bin/python bench/admin_bench.py                 # 100,000 learners, 5,000,000 messages
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def seed(conn, learners: int, messages: int, days: int = 90) -> None:
    """Batched executemany in one transaction: ~1M rows/s on this box."""
    rng = random.Random(7)
    now = 1_772_427_600  # 2026-03-02T05:00Z
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))  # noqa: E731
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO courses (id, slug, language, title, created_at, updated_at) VALUES "
                 "(1, 'money', 'en', 'Mobile money', '2026-01-01', '2026-01-01')")
    names = ["Amina", "Baraka", "Chausiku", "Daudi", "Eshe", "Faraji", "Gathoni", "Hamisi", "Imani", "Jabali"]
    conn.executemany(
        """INSERT INTO learners (id, channel_key, phone, name, status, cohort, current_course_id, streak,
                                 last_inbound_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)""",
        ((i, f"whatsapp:+2547{i:08d}", f"+2547{i:08d}", f"{rng.choice(names)} {i}",
          rng.choice(("active", "active", "active", "paused", "finished")), f"cohort-{i % 40}", rng.randrange(40),
          iso(now - rng.randrange(days * 86400)), iso(now - days * 86400), iso(now)) for i in range(1, learners + 1)))
    conn.executemany("INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, 1, '2026-01-01')",
                     ((i,) for i in range(1, learners + 1)))
    statuses = ("delivered",) * 8 + ("read", "failed")

    def rows():
        for m in range(1, messages + 1):
            t = now - (messages - m) * days * 86400 // messages
            out = m % 2 == 0
            yield (m % learners + 1, "out" if out else "in", "whatsapp", "x", "Lesson text " * 8,
                   rng.choice(statuses) if out else "received", iso(t), iso(t))

    conn.executemany("""INSERT INTO messages (learner_id, direction, channel, address, body, status, created_at,
                        updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""", rows())
    conn.executemany("INSERT INTO daily_stats (date, metric, value) VALUES (?, ?, ?)",
                     ((time.strftime("%Y-%m-%d", time.gmtime(now - d * 86400)), metric, rng.randrange(100, 5000))
                      for d in range(days) for metric in ("active_learners", "lessons_delivered", "lessons_completed",
                                                          "quiz_average", "messages_sent", "messages_failed")))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")


async def measure(client, path: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _, response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    learners, messages = int(100_000 * args.scale), int(5_000_000 * args.scale)
    tmp = Path(tempfile.mkdtemp(prefix="admin-bench-"))
    os.environ.update(COACHBOX_PATHS_DATA_DIR=str(tmp / "data"), COACHBOX_LOG_LEVEL="WARNING")
    from sanic import Sanic
    from sanic_testing.testing import SanicASGITestClient

    from coachbox import store
    from coachbox.admin.passwords import hash_password
    from coachbox.app import create_app
    from coachbox.config import Settings
    from coachbox.jobs.queue import create_huey
    from coachbox.services import build_services

    Sanic.test_mode = True
    settings = Settings.load(REPO / "coachbox.toml")
    conn = store.open_database(settings.db_path)
    started = time.perf_counter()
    seed(conn, learners, messages)
    print(f"seeded {learners:,} learners, {messages:,} messages in {time.perf_counter() - started:.1f} s")
    conn.execute("INSERT INTO admins (email, password_hash, role, created_at) VALUES ('b@x.test', ?, 'viewer', '')",
                 (hash_password("bench password"),))
    services = build_services(settings, huey=create_huey(settings, immediate=True))
    app = create_app(settings, services)
    client = SanicASGITestClient(app)
    _, page = await client.get("/admin/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    await client.post("/admin/login", data={"email": "b@x.test", "password": "bench password", "csrf_token": token})
    busiest = conn.execute("SELECT learner_id FROM messages GROUP BY learner_id ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    cases = {
        "baseline: /healthz (SELECT 1 + outbox counts)": "/healthz",
        "baseline: /admin/account (trivial template)": "/admin/account",
        "dashboard /admin/": "/admin/",
        "learner search by name /admin/learners?q=amina": "/admin/learners?q=amina",
        "learner search by phone ?q=0700012": "/admin/learners?q=0700012",
        "learner filter ?status=paused&inactive=30": "/admin/learners?status=paused&inactive=30",
        f"transcript /admin/learners/{busiest}": f"/admin/learners/{busiest}",
    }
    print(f"{'page':<52} {'median ms':>10} {'p90 ms':>8}")
    for label, path in cases.items():
        await measure(client, path, 2)  # warm caches
        times = sorted(await measure(client, path, args.runs))
        print(f"{label:<52} {statistics.median(times):>10.1f} {times[int(len(times) * 0.9) - 1]:>8.1f}")
    services.close_sync()
    conn.close()


if __name__ == "__main__":
    asyncio.run(main())
