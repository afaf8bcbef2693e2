"""Outbox drain against the local Twilio double: throughput with the cap lifted, and CPU at a fixed rate.

    .venv/bin/python bench/outbox_bench.py [--messages 3000] [--rate-seconds 20] [--rate 80] [--chaos 0.05]
    .venv/bin/python bench/outbox_bench.py --claim [--backlogs 1000,10000,100000]

--claim (issue #15) times the sender's claim query at each backlog and shape, the query before migration 0029
(OLD_DUE, kept here) beside store.messages.due_outbound in the same run, checks both pick the same rows, and times
what the new index costs the writes (enqueue_outbound, then claiming and marking sent) against the same database
without it.

The double runs in its own process so that it does not share the sender's GIL. Nothing may be doubled: the
run fails (exit 1) unless the double accepted exactly one message per outbox row. --chaos makes that share
of sends fail as Twilio can (429; 500 before or after taking the message; a hang, then 5xx, after taking it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coachbox import store  # noqa: E402
from coachbox.channels.sender import drain  # noqa: E402
from coachbox.core.config import Settings  # noqa: E402
from coachbox.roots.services import build_services  # noqa: E402
from coachbox.store import messages, transaction  # noqa: E402
from coachbox.store.messages import OutboxDraft, enqueue_outbound  # noqa: E402
from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

DOUBLE = """
import json, sys, time
from tests.doubles.twilio_double import TwilioDouble
d = TwilioDouble().start()
d.chaos(float(sys.argv[1]), seed=int(time.time()))
print(d.url, flush=True)
sys.stdin.read()
print(json.dumps({"accepted": len(d.accepted), "tags": len({m.tag for m in d.accepted}),
                  "duplicates": d.duplicates()}), flush=True)
"""


def _settings(data: Path, url: str, rate: float) -> Settings:
    return Settings.load(
        REPO / "coachbox.toml",
        {
            "COACHBOX_PATHS_DATA_DIR": str(data),
            "COACHBOX_LOG_LEVEL": "ERROR",
            "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "COACHBOX_TWILIO_API_BASE_URL": url,
            "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "COACHBOX_TWILIO_MESSAGES_PER_SECOND": str(rate),
        },
    )


def _fill(db_path: Path, count: int, offset: int) -> None:
    conn = store.open_database(db_path)
    now = datetime.now(UTC).isoformat()
    with transaction(conn):
        for n in range(offset, offset + count):
            key = f"whatsapp:+2547{n:08d}"
            conn.execute(
                "INSERT INTO learners (channel_key, channel, created_at, updated_at, last_inbound_at) "
                "VALUES (?, 'whatsapp', ?, ?, ?)",
                (key, now, now, now),
            )
            learner = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            enqueue_outbound(
                conn,
                learner_id=learner,
                channel="whatsapp",
                address=key,
                draft=OutboxDraft(body=f"Lesson {n}: keep your PIN secret."),
                now=datetime.now(UTC),
            )
    conn.close()


async def _run(settings: Settings, seconds: float) -> tuple[int, float, float]:
    services = build_services(settings)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        sent = await drain(services, seconds=seconds)
        # Retries (under --chaos) fall due later: keep draining until every row is settled or time is up.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and services.db.run_sync(_unsettled):
            await asyncio.sleep(0.2)
            sent += await drain(services, seconds=seconds)
    finally:
        await services.channel.close()
        services.close_sync()
    return sent, time.perf_counter() - wall0, time.process_time() - cpu0


def _unsettled(conn) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status NOT IN ('sent', 'failed')"
    ).fetchone()[0]


# -- --claim: the claim query at any backlog (issue #15) -------------------------------------------------------------
# The claim before migration 0029: every due row found through messages_outbox_due, then all of them sorted.
OLD_DUE = """SELECT m.*, l.last_inbound_at, COALESCE(l.opted_out, 0) AS opted_out, l.timezone
           FROM messages m LEFT JOIN learners l ON l.id = m.learner_id
           WHERE m.direction = 'out' AND m.status IN ('queued', 'retry') AND m.next_attempt_at <= :now
             AND NOT EXISTS (SELECT 1 FROM messages p
                             WHERE p.learner_id = m.learner_id AND p.id < m.id
                               AND p.direction = 'out' AND p.status IN ('queued', 'retry', 'sending')
                               AND (m.proactive OR NOT p.proactive OR p.status = 'sending'
                                    OR p.next_attempt_at <= :now))
           ORDER BY m.proactive, m.id LIMIT :limit"""
CLAIM_LIMIT = 80  # deliver_due claims about a second's worth: Twilio's 80 messages per second
SHAPES = {
    "a": "all due answers (a third of the learners with a second part)",
    "b": "a due broadcast, 1% answers among it",
    "c": "held for quiet hours, 20 due among them",
    "d": "a two-part broadcast the claim held for quiet hours, 20 due answers beside it",
}
# Holding a row before this change: the row alone; its learner's later parts stayed due behind it (shape d).
OLD_HOLD = """UPDATE messages SET next_attempt_at = ?, error_code = ?, error_message = ?, updated_at = ?
           WHERE id = ? AND status IN ('queued', 'retry')"""


def _shape_rows(shape: str, n: int, start: datetime, morning: datetime) -> list[tuple]:
    """(learner, kind, proactive, next_attempt_at, error_code) per row, in id order."""
    rows = []
    due_every = max(1, n // 20)
    for i in range(n):
        if shape == "a":
            rows.append((i * 2 // 3, "reply", 0, None, None))
        elif shape == "b":
            rows.append((i, "reply", 0, None, None) if i % 100 == 50 else (i, "broadcast", 1, None, None))
        elif shape == "d":  # learner k's parts are rows 2k and 2k+1; then 20 answers to others
            rows.append((i // 2, "broadcast", 1, None, None) if i < n - 20 else (n + i, "reply", 0, None, None))
        elif i % due_every == due_every // 2:  # shape c: a few due, half of them answers
            rows.append((i, "reply", 0, None, None) if i % 2 else (i, "daily_lesson", 1, None, None))
        else:
            rows.append((i, "daily_lesson", 1, morning.isoformat(), messages.HELD))
    return [
        (learner, kind, proactive, nxt or (start + timedelta(milliseconds=i)).isoformat(), code)
        for i, (learner, kind, proactive, nxt, code) in enumerate(rows)
    ]


def _claim_db(path: Path, shape: str, n: int, now: datetime) -> sqlite3.Connection:
    conn = store.open_database(path)
    start, morning = now - timedelta(hours=1), now + timedelta(hours=9)
    rows = _shape_rows(shape, n, start, morning)
    stamp = start.isoformat()
    with transaction(conn):
        conn.executemany(
            "INSERT INTO learners (id, channel_key, channel, timezone, created_at, updated_at, last_inbound_at) "
            "VALUES (?, ?, 'whatsapp', 'Africa/Nairobi', ?, ?, ?)",
            [(lid + 1, f"whatsapp:+2547{lid:08d}", stamp, stamp, stamp) for lid in range(rows[-1][0] + 1)],
        )
        conn.executemany(
            """INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, idempotency_key,
                                     status, next_attempt_at, proactive, error_code, created_at, updated_at)
               VALUES (?, 'out', 'whatsapp', ?, 'Lesson: keep your PIN secret.', '[]', ?, ?, 'queued', ?, ?, ?, ?, ?)""",
            [
                (lid + 1, f"whatsapp:+2547{lid:08d}", kind, f"{kind}:{i}", nxt, proactive, code, stamp, stamp)
                for i, (lid, kind, proactive, nxt, code) in enumerate(rows)
            ],
        )
    return conn


def _median_ms(query, conn: sqlite3.Connection, params: dict, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        query(conn, params)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _old_claim(conn: sqlite3.Connection, params: dict) -> list:
    return conn.execute(OLD_DUE, params).fetchall()


def _new_claim(conn: sqlite3.Connection, params: dict) -> list:
    return messages.due_outbound(conn, params["now"], params["limit"])


def _claim_queries(tmp: Path, backlogs: list[int], rounds: int) -> bool:
    ok = True
    now = datetime.now(UTC)
    stamp = now.isoformat()
    for n in backlogs:
        for shape, words in SHAPES.items():
            conn = old_conn = _claim_db(tmp / f"claim-{shape}-{n}.db", shape, n, now)
            if shape == "d":  # the claim held every first part: before (OLD_HOLD) and now (hold_outbound)
                old_conn = _claim_db(tmp / f"claim-{shape}-{n}-old.db", shape, n, now)
                morning = (now + timedelta(hours=9)).isoformat()
                hold_s = [0.0, 0.0]  # per held row: before, now; CLAIM_LIMIT holds a transaction, as the claim's
                firsts = list(range(1, n - 20, 2))
                for i in range(0, len(firsts), CLAIM_LIMIT):
                    for side, db in enumerate((old_conn, conn)):
                        t0 = time.perf_counter()
                        with transaction(db):
                            for first in firsts[i : i + CLAIM_LIMIT]:
                                if side == 0:
                                    db.execute(OLD_HOLD, (morning, messages.HELD, "held", stamp, first))
                                else:
                                    messages.hold_outbound(db, first, morning, "held", stamp)
                        hold_s[side] += time.perf_counter() - t0
                held_us = {
                    f"hold_{k}_us_per_row": round(v / ((n - 20) // 2) * 1e6, 1) for k, v in zip(("old", "new"), hold_s)
                }
            else:
                held_us = {}
            params = {"now": stamp, "limit": CLAIM_LIMIT}
            old_ids = [r["id"] for r in old_conn.execute(OLD_DUE, params)]
            new_ids = [r["id"] for r in messages.due_outbound(conn, stamp, CLAIM_LIMIT)]
            plan = " / ".join(
                r[3]
                for p in (0, 1)
                for r in conn.execute("EXPLAIN QUERY PLAN " + messages._DUE, {**params, "proactive": p})
            )
            old_ms = new_ms = 0.0
            for _ in range(3):  # interleaved, so both meet the same machine
                old_ms += _median_ms(_old_claim, old_conn, params, rounds) / 3
                new_ms += _median_ms(_new_claim, conn, params, rounds) / 3
            same = old_ids == new_ids
            sorted_ = "TEMP B-TREE" in plan
            ok = ok and same and not sorted_
            print(
                json.dumps(
                    {
                        "claim": f"{n:,} queued",
                        "shape": f"({shape}) {words}",
                        "rows_claimed": len(new_ids),
                        "old_ms": round(old_ms, 3),
                        "new_ms": round(new_ms, 3),
                        "speedup": round(old_ms / new_ms, 1) if new_ms else None,
                        "same_rows": same,
                        "sorts": sorted_,
                        **held_us,
                    }
                ),
                flush=True,
            )
            conn.close()
            old_conn.close()
    return ok


def _write_cost(tmp: Path, rows: int, rounds: int) -> None:
    """enqueue_outbound, then claiming and marking sent, rows/s with and without messages_outbox_claim (a 10,000-row
    broadcast already queued in each database): rounds interleaved, each database first in half of them; the
    median round of each."""
    now = datetime.now(UTC)
    conns = {}
    for name in ("without", "with"):
        conn = _claim_db(tmp / f"write-{name}.db", "b", 10_000, now)
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'messages_outbox_claim'").fetchone()[0]
        conn.execute("DROP INDEX messages_outbox_claim")  # both files alike: the same free pages, the same history
        if name == "with":
            conn.execute(sql)
        conns[name] = conn
    enqueue_s: dict[str, list[float]] = {name: [] for name in conns}
    claim_s: dict[str, list[float]] = {name: [] for name in conns}
    stamp = now.isoformat()
    for r in range(rounds):
        for name in ("without", "with") if r % 2 else ("with", "without"):
            conn = conns[name]
            t0 = time.process_time()
            ids = []
            for i in range(0, rows, 4):  # a turn writes a few rows in its transaction
                with transaction(conn):
                    for j in range(i, i + 4):
                        ids.append(
                            enqueue_outbound(
                                conn,
                                learner_id=1 + j % 5000,
                                channel="whatsapp",
                                address="whatsapp:+254700000001",
                                draft=OutboxDraft(body="Well done!", idempotency_key=f"w:{r}:{j}"),
                                now=now,
                            )
                        )
            enqueue_s[name].append(time.process_time() - t0)
            t0 = time.process_time()
            for i in range(0, len(ids), CLAIM_LIMIT):  # the sender: a claim, then its sends marked
                with transaction(conn):
                    for mid in ids[i : i + CLAIM_LIMIT]:
                        messages.claim_outbound(conn, mid, "bench", stamp)
                with transaction(conn):
                    for mid in ids[i : i + CLAIM_LIMIT]:
                        messages.mark_sent(conn, mid, f"SM{mid}", None, stamp)
            claim_s[name].append(time.process_time() - t0)
    rate = {f"{what}_{name}_index": round(rows / statistics.median(times[name])) for what, times in
            (("enqueue", enqueue_s), ("claim_and_mark_sent", claim_s)) for name in conns}  # fmt: skip
    print(json.dumps({"writes": "rows per CPU second (median round), 10,000 queued beside them", **rate}), flush=True)
    for conn in conns.values():
        conn.close()


def claim_main(backlogs: list[int], rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ok = _claim_queries(Path(tmp), backlogs, rounds)
        _write_cost(Path(tmp), 1000, 12)
    if not ok:
        print("FAILED: the new claim must pick the old claim's rows, and never sort")
        sys.exit(1)


def _variant(name: str):
    """Patch the sender for one A/B variant; returns the undo."""
    from coachbox.channels import outbox

    if name == "old claim (before 0029)":
        saved = messages.due_outbound
        messages.due_outbound = lambda conn, now, limit: conn.execute(OLD_DUE, {"now": now, "limit": limit}).fetchall()

        def undo() -> None:
            messages.due_outbound = saved

        return undo
    if name == "no pause read (ceiling of a flag in memory)":
        saved_pause = outbox.paused_until
        outbox.paused_until = lambda cache: 0.0

        def undo_pause() -> None:
            outbox.paused_until = saved_pause

        return undo_pause
    return lambda: None


def ab_main(url: str, messages_count: int, rounds: int) -> int:
    """The cap-lifted drain of a `messages_count` backlog, variants interleaved round by round (each in a fresh
    data folder): msg/s and sender CPU per message, median of the rounds."""
    from coachbox.channels import outbox, pacing

    variants = ["as is", "old claim (before 0029)", "no pause read (ceiling of a flag in memory)"]
    results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in variants}
    claim_seconds = [0.0]  # the writer's time inside the claims (the write lock held): what every turn waits behind
    claim_due = outbox._claim_due

    def timed_claim(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return claim_due(*args, **kwargs)
        finally:
            claim_seconds[0] += time.perf_counter() - t0

    outbox._claim_due = timed_claim  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:
                settings = _settings(Path(tmp) / f"{r}-{variants.index(v)}", url, 1_000_000.0)
                _fill(settings.db_path, messages_count, (r * len(variants) + variants.index(v)) * messages_count)
                undo = _variant(v)
                claim_seconds[0] = 0.0
                try:
                    sent, wall, cpu = asyncio.run(_run(settings, 300))
                finally:
                    undo()
                results[v].append((sent / wall, cpu / sent * 1e6, claim_seconds[0] * 1000))
        outbox._claim_due = claim_due  # type: ignore[assignment]
        # What the per-send diskcache trips cost on their own: the pause read before every send, a slot reserved.
        services = build_services(_settings(Path(tmp) / "trips", url, 80.0))
        trips = {}
        try:
            for name, trip in (
                ("paused_until", lambda: pacing.paused_until(services.cache)),
                ("reserve_slots", lambda: pacing.reserve_slots(services.cache, 1, 1e9)),
            ):
                t0 = time.process_time()
                for _ in range(5000):
                    trip()
                trips[name] = round((time.process_time() - t0) / 5000 * 1e6, 1)
        finally:
            services.close_sync()
    for v, runs in results.items():
        print(
            json.dumps(
                {
                    "drain": f"cap lifted, {messages_count:,} queued",
                    "variant": v,
                    "msg_per_s": round(statistics.median(r[0] for r in runs)),
                    "cpu_us_per_message": round(statistics.median(r[1] for r in runs)),
                    "claims_total_ms": round(statistics.median(r[2] for r in runs)),
                    "rounds": rounds,
                }
            ),
            flush=True,
        )
    print(json.dumps({"diskcache_trip_cpu_us_per_call": trips}), flush=True)
    return rounds * len(variants)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--rate-seconds", type=float, default=20.0, help="the issue asks for 600 (10 minutes)")
    parser.add_argument("--log", action="store_true", help="log retries and failures to stderr")
    parser.add_argument("--chaos", type=float, default=0.0, help="share of sends the double fails at random")
    parser.add_argument("--claim", action="store_true", help="time the claim query at each backlog (issue #15)")
    parser.add_argument("--backlogs", default="1000,10000,100000", help="with --claim: queued rows, comma-separated")
    parser.add_argument("--rounds", type=int, default=15, help="with --claim: timings per query (median)")
    parser.add_argument(
        "--ab", action="store_true", help="cap-lifted drains: as is, the old claim, no pause read (interleaved)"
    )
    parser.add_argument("--ab-rounds", type=int, default=3, help="with --ab: drains per variant (median)")
    args = parser.parse_args()
    if args.claim:
        claim_main([int(n) for n in args.backlogs.split(",")], args.rounds)
        return
    if args.chaos:
        from coachbox.channels import outbox

        # The double records a message at most 1.5 s after the request: 2 s of settling is enough for it,
        # and keeps the run short (production waits outbox.UNSURE_SETTLE_SECONDS).
        outbox.UNSURE_SETTLE_SECONDS = 2.0
    if args.log:
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(name)s %(message)s %(code)s %(error)s", defaults={"code": "", "error": ""})
        )
        logging.getLogger("coachbox").addHandler(handler)
        logging.getLogger("coachbox").setLevel(logging.INFO)
    double = subprocess.Popen(
        [sys.executable, "-c", DOUBLE, str(args.chaos)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = double.stdout.readline().strip()
    if args.ab:
        runs = ab_main(url, args.messages, args.ab_rounds)
        double.stdin.close()
        seen = json.loads(double.stdout.readline())
        double.wait(timeout=60)
        if seen["accepted"] != runs * args.messages:  # each run's ids start at 1 again: count, not ids
            print(f"FAILED: the double accepted {seen['accepted']} messages for {runs * args.messages} rows")
            sys.exit(1)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        lifted = _settings(data, url, 1_000_000.0)
        _fill(lifted.db_path, args.messages, 0)
        sent, wall, cpu = asyncio.run(_run(lifted, 120))
        print(
            f"cap lifted: {sent} messages in {wall:.2f} s = {sent / wall:.0f} msg/s "
            f"(sender CPU {cpu / wall * 100:.0f}% of one core)"
        )
        capped = _settings(data, url, args.rate)
        count = int(args.rate * args.rate_seconds)
        _fill(capped.db_path, count, args.messages)
        sent, wall, cpu = asyncio.run(_run(capped, args.rate_seconds + 30))
        print(
            f"at {args.rate:.0f}/s: {sent} messages in {wall:.2f} s = {sent / wall:.1f} msg/s, "
            f"sender CPU {cpu / wall * 100:.1f}% of one core, max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB"
        )
        conn = store.open_database(lifted.db_path)
        rows = conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out'").fetchone()[0]
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM messages WHERE direction = 'out' GROUP BY status"))
        retried = conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND attempts > 1").fetchone()[0]
        conn.close()
    double.stdin.close()
    seen = json.loads(double.stdout.readline())
    double.wait(timeout=10)
    print(
        f"double accepted {seen['accepted']} messages for {rows} outbox rows ({seen['tags']} distinct ids); "
        f"rows {statuses}, {retried} sent after a retry"
    )
    if seen["accepted"] != rows or seen["duplicates"] or statuses != {"sent": rows}:
        print(f"FAILED: nothing may be doubled or lost; doubled ids: {seen['duplicates']}")
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
