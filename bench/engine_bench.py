"""Conversation figures: pure engine turns/s on one core, whole-turn p50/p95 through the service, and the CPU
of a turn when turns are group-committed as the webhook runs them.

Each figure is printed next to a bare baseline measured in the same run on the same machine:
a no-op function call loop for the engine, a single-INSERT transaction for the service.
Run: .venv/bin/python bench/engine_bench.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import diskcache

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coachbox import store  # noqa: E402
from coachbox.channels.base import Inbound  # noqa: E402
from coachbox.content.importer import import_folder  # noqa: E402
from coachbox.conversation.engine import handle  # noqa: E402
from coachbox.conversation.events import Message  # noqa: E402
from coachbox.conversation.state import State  # noqa: E402
from coachbox.core.clock import FakeClock  # noqa: E402
from coachbox.core.config import Settings  # noqa: E402
from coachbox.turns.runner import Resources, handle_inbound_sync  # noqa: E402

SCRIPT = [
    "hi",
    "yes",
    "1",
    "1",
    "7",
    "quiz",
    "b",
    "maybe",
    "false",
    "pin",
    "progress",
    "help",
    "what is a PIN?",
    "next",
    "quiz",
    "c",
    "true",
    "keypad",
    "courses",
    "1",
    "time 6pm",
    "certificate",
    "mydata",
    "thanks",
]


def engine_turns_per_second(catalogue, texts, rules, seconds: float = 2.0) -> float:
    from coachbox.learning.learner import Learner

    learner = Learner(id=1, profile_name="Amina", created_at="x", message_count=1)
    now = FakeClock().now()
    turns, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        state = State()
        current = learner
        for text in SCRIPT:
            decision = handle(Message(text), state, current, catalogue, texts, now, rules)
            state = decision.state
            for effect in decision.effects:  # keep the snapshot moving like the service would
                if type(effect).__name__ == "UpdateLearner":
                    current = _apply(current, dict(effect.changes))
            turns += 1
    return turns / (time.perf_counter() - start)


def _apply(learner, changes):
    from dataclasses import replace

    plain = {
        k: v for k, v in changes.items() if k not in ("streak", "best_streak", "streak_freezes", "last_active_date")
    }
    return replace(learner, **plain)


def noop_calls_per_second(seconds: float = 1.0) -> float:
    def noop(*args):
        return args

    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            noop(1, 2, 3, 4, 5, 6)
        calls += 1000
    return calls / (time.perf_counter() - start)


def service_latencies(folder: Path, learners: int = 20) -> tuple[list[float], list[float]]:
    settings = Settings.load(
        REPO / "coachbox.toml",
        {
            "COACHBOX_PATHS_DATA_DIR": str(folder / "data"),
            "COACHBOX_LOG_LEVEL": "WARNING",
            "COACHBOX_LEARNING_BURST_PER_MINUTE": "100000",
            "COACHBOX_LEARNING_RATE_LIMIT_PER_HOUR": "100000",
        },
    )
    conn = store.open_database(settings.db_path)
    import_folder(conn, settings.content_dir, settings, progress=None)
    cache = diskcache.Cache(str(settings.cache_dir), timeout=60)
    res = Resources.build(settings)
    catalogue = res.catalogue(conn)
    clock = FakeClock()
    turns: list[float] = []
    for n in range(learners):
        phone = f"+2547{n:08d}"
        for text in SCRIPT:
            inbound = Inbound(
                "simulator", f"sim:{phone}", text, uuid.uuid4().hex, clock.now(), phone=phone, profile_name="Amina"
            )
            start = time.perf_counter()
            handle_inbound_sync(conn, cache, settings, catalogue, res.texts, inbound, clock.now(), rules=res.rules)
            turns.append((time.perf_counter() - start) * 1000)
            clock.advance(seconds=30)
    baseline: list[float] = []
    conn.execute("CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, body TEXT)")
    for _ in range(len(turns)):
        start = time.perf_counter()
        with store.transaction(conn):
            conn.execute("INSERT INTO bench_baseline (body) VALUES (?)", ("x" * 100,))
        baseline.append((time.perf_counter() - start) * 1000)
    cache.close()
    conn.close()
    return turns, baseline


def grouped_turn_cpu(folder: Path, turns: int = 6000, learners: int = 3000) -> tuple[float, float]:
    """CPU ms per turn as the webhook runs them: 6 turns per transaction (group commit, a SAVEPOINT each), every
    number new and then back once ("hi" twice), as in bench/webhook_bench.py; and a baseline of the same number of
    single-INSERT SAVEPOINTs in the same grouping."""
    from coachbox.turns.runner import _inbound_turn

    settings = Settings.load(
        REPO / "coachbox.toml", {"COACHBOX_PATHS_DATA_DIR": str(folder / "data"), "COACHBOX_LOG_LEVEL": "WARNING"}
    )
    conn = store.open_database(settings.db_path)
    import_folder(conn, settings.content_dir, settings, progress=None)
    cache = diskcache.Cache(str(settings.cache_dir), timeout=60, cull_limit=0)
    res = Resources.build(settings)
    clock = FakeClock()
    inbound = [
        Inbound(
            "whatsapp",
            f"whatsapp:+2547{n % learners:08d}",
            "hi",
            f"SM{n:032d}",
            clock.now(),
            phone=f"+2547{n % learners:08d}",
            wa_id=f"2547{n % learners:08d}",
            profile_name="Bench",
        )
        for n in range(turns)
    ]

    def grouped(items, one) -> float:
        start = time.process_time()
        for i in range(0, len(items), 6):
            conn.execute("BEGIN IMMEDIATE")
            for item in items[i : i + 6]:
                conn.execute("SAVEPOINT g")
                one(item)
                conn.execute("RELEASE g")
            conn.execute("COMMIT")
        return (time.process_time() - start) / len(items) * 1000

    with cache.transact(retry=True):
        turn_ms = grouped(
            inbound,
            lambda m: _inbound_turn(
                conn, cache, settings, res.catalogue(conn), res.texts, m, clock.now(), res.rules, own_transaction=False
            ),
        )
    conn.execute("CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, body TEXT)")
    baseline_ms = grouped(inbound, lambda m: conn.execute("INSERT INTO bench_baseline (body) VALUES (?)", (m.body,)))
    cache.close()
    conn.close()
    return turn_ms, baseline_ms


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(REPO / "coachbox.toml", {"COACHBOX_PATHS_DATA_DIR": tmp + "/data"})
        conn = store.open_database(settings.db_path)
        import_folder(conn, settings.content_dir, settings, progress=None)
        res = Resources.build(settings)
        catalogue = res.catalogue(conn)
        conn.close()
        noop = noop_calls_per_second()
        engine = engine_turns_per_second(catalogue, res.texts, res.rules)
        print(f"pure engine:   {engine:,.0f} turns/s over a {len(SCRIPT)}-message mixed script (goal >= 5,000)")
        print(f"  baseline:    {noop:,.0f} no-op calls/s ({noop / engine:,.0f}x a turn)")
        turns, baseline = service_latencies(Path(tmp) / "svc")
        print(
            f"whole turn:    p50 {pct(turns, 50):.2f} ms, p95 {pct(turns, 95):.2f} ms, max {max(turns):.2f} ms "
            f"over {len(turns)} turns (SQLite + diskcache; goal p95 < 15 ms)"
        )
        print(
            f"  baseline:    single-INSERT transaction p50 {pct(baseline, 50):.3f} ms, p95 {pct(baseline, 95):.3f} ms"
        )
        turn_ms, insert_ms = grouped_turn_cpu(Path(tmp) / "grouped")
        print(
            f"grouped turns: {turn_ms:.3f} ms CPU per turn, 6 per transaction as the webhook groups them "
            f"(3,000 new learners, then each again)"
        )
        print(f"  baseline:    {insert_ms:.3f} ms CPU per single-INSERT savepoint in the same grouping")


if __name__ == "__main__":
    main()
