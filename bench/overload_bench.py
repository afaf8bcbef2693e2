"""Overload: webhooks at 2x and 5x the box's turn capacity for a minute (issue #15, "bounded under any load").

    .venv/bin/python bench/overload_bench.py [--seconds 60] [--capacity-seconds 10] [--factors 2,5]
        [--capacity TURNS_PER_S] [--timeline] [--no-baseline] [--pin]

1. Capacity: wrk (closed loop, every request a new message: no replay) against coachbox with the inbound queue
   switched off (`[server] turn_budget_ms` huge: every webhook waits for its turn, as before issue #15); its
   req/s is the turn capacity. The same wrk run with the queue on gives the acknowledgement throughput.
2. Open loop at each factor x capacity: returning learners (each sends a message every ~10 s on average:
   HELP, PROGRESS, a word) through signed Twilio webhooks, latency measured from each request's scheduled time,
   15 s client timeout (Twilio's), sent by bench/open_loop.py (cheap enough to leave the server its cores).
   Then it waits until every kept message has had its turn and every reply has
   left, and checks: every acknowledged message stored once (0 lost, 0 doubled), every one answered, and each
   learner's replies sent in the order of their messages.
Baseline in the same run: the same open loop against the queue switched off (`--no-baseline` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import open_loop  # noqa: E402
from webhook_bench import (  # noqa: E402
    DOUBLE,
    PUBLIC,
    SERVER,
    _cpu_seconds,
    _form,
    _lua,
    _pct,
    _settle,
    _signed,
    _wait,
    _wrk,
)

from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

TWILIO_TIMEOUT = 15.0
WARM_UP = 40  # messages before the clock starts (_warm_up)
WORDS = ("HELP", "PROGRESS", "hi", "what is a PIN?", "thanks", "STREAK")


def _env(tmp: Path, port: int, double_url: str, budget_ms: int | None) -> dict:
    env = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp),
        "COACHBOX_LOG_LEVEL": "ERROR",
        "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "COACHBOX_TWILIO_API_BASE_URL": double_url,
        "COACHBOX_TWILIO_MESSAGES_PER_SECOND": "1000",
        "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "COACHBOX_SERVER_PUBLIC_URL": PUBLIC.format(port=port),
        "COACHBOX_SERVER_PORT": str(port),
        "COACHBOX_SERVER_HOST": "127.0.0.1",
        "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
        "PATH": "/usr/bin:/bin",
    }
    if budget_ms is not None:
        env["COACHBOX_SERVER_TURN_BUDGET_MS"] = str(budget_ms)
    return env


def _start(
    tmp: Path, port: int, double_url: str, budget_ms: int | None, cpus: set[int] | None = None
) -> subprocess.Popen:
    """The server (as `coachbox run` serves), on `cpus` only when given (--pin)."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=REPO,
        env=_env(tmp, port, double_url, budget_ms),
        stdout=subprocess.DEVNULL,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    _wait(port)
    return server


def _plan(rate: float, seconds: float, prefix: str, seed: int) -> list[dict]:
    """The open loop's messages: rate*seconds of them from rate*10 returning learners, in send order."""
    rng = random.Random(seed)
    learners = max(1, int(rate * 10))
    forms = []
    assert len(prefix) <= 4 and rate * seconds < 10**28
    for n in range(int(rate * seconds)):
        phone = f"+2547{rng.randrange(learners):08d}"
        sid = f"SM{prefix}{n:0{32 - len(prefix)}d}"  # 34 characters, unique per message (no replay)
        form = _form(n, prefix) | {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "From": f"whatsapp:{phone}",
            "WaId": phone[1:],
            "Body": rng.choice(WORDS),
        }
        forms.append(form)
    return forms


def _webhooks(port: int, forms: list[dict]) -> list[bytes]:
    """Each form as a signed POST /webhooks/twilio, the bytes open_loop sends."""
    base, prepared = PUBLIC.format(port=port), []
    for form in forms:
        body, sig = _signed(base + "/webhooks/twilio", form)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
        prepared.append(open_loop.request_bytes(f"127.0.0.1:{port}", "/webhooks/twilio", body, headers))
    return prepared


def _open_loop(port: int, forms: list[dict], rate: float, *, timeline: bool = False) -> dict:
    prepared = _webhooks(port, forms)
    cpu = time.process_time()
    got = open_loop.run("127.0.0.1", port, prepared, rate, timeout=TWILIO_TIMEOUT)
    cpu = time.process_time() - cpu
    status = got.status
    latencies = [(d - s) * 1000 for d, s, st in zip(got.done, got.scheduled, status) if st == 200]
    if timeline:
        start = got.scheduled[0]
        for w in range(int((got.scheduled[-1] - start) // 5) + 1):
            lat = [
                (d - s) * 1000
                for d, s, st in zip(got.done, got.scheduled, status)
                if st == 200 and start + w * 5 <= s < start + (w + 1) * 5
            ]
            print(
                f"    {w * 5:3d}-{w * 5 + 5:3d} s: p50 {_pct(lat, 0.5):7.1f} ms, p99 {_pct(lat, 0.99):7.1f} ms",
                flush=True,
            )
    # The generator's own lateness (scheduled -> written to its connection): it shares the box's cores with the
    # server, and past their capacity its requests leave late, which the latencies above count as the server's.
    late = [(s - c) * 1000 for s, c in zip(got.sent, got.scheduled) if s]
    return {
        "requests": len(forms),
        "ok": sum(1 for st in status if st == 200),
        "timeouts": sum(1 for st in status if st == open_loop.TIMEOUT),
        "errors": sum(1 for st in status if st not in (200, open_loop.TIMEOUT)),
        "p50_ms": _pct(latencies, 0.5),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
        "send_late_p99_ms": _pct(late, 0.99),
        "connections": got.connections,
        "generator_cpu_ms_per_request": round(cpu / max(1, len(forms)) * 1000, 3),
        "acked": [f["MessageSid"] for f, st in zip(forms, status) if st == 200],
        # When each request left and its answer came back: only messages answered before the next one left are
        # known to have reached the server in that order (two in flight at once may arrive either way round).
        "times": {f["MessageSid"]: (s, d) for f, s, d in zip(forms, got.sent, got.done)},
    }


def _warm_up(port: int, count: int = WARM_UP) -> int:
    """A few messages at 20/s from learners outside the plan, before the clock starts, as a running box has had:
    a fresh server's first turns load the course catalogue and the modules they use (~1 s), and a flood's first
    second would otherwise count that as webhook latency. How many were answered 200 (stored)."""
    forms = []
    for n in range(count):
        phone, sid = f"+2548{n:08d}", f"SMw{n:031d}"
        forms.append(
            _form(n, "w") | {"MessageSid": sid, "SmsMessageSid": sid, "From": f"whatsapp:{phone}", "WaId": phone[1:]}
        )
    prepared = _webhooks(port, forms)
    got = open_loop.run("127.0.0.1", port, prepared, 20.0, timeout=TWILIO_TIMEOUT)
    return sum(1 for status in got.status if status == 200)


def _check(db: Path, forms: list[dict], acked: list[str], times: dict[str, tuple[float, float]]) -> dict:
    """Lost, doubled, unanswered, and learners whose replies left out of order.

    A learner past the per-learner limit ([learning] burst_per_minute, 20) gets one polite notice and then silence,
    by design: the random plan has a few such learners (at 5x, one sends 22 messages in the minute). Their unanswered
    messages are counted as `throttled`, apart from `unanswered`: only a learner the limiter noticed can have them."""
    conn = sqlite3.connect(db)
    try:
        stored = dict(conn.execute("SELECT provider_sid, COUNT(*) FROM messages WHERE direction = 'in' GROUP BY 1"))
        # Still kept when the wait ran out (--settle-seconds): durable, not lost; their turns have not run yet.
        kept = {row[0][12:] for row in conn.execute("SELECT idempotency_key FROM inbound_queue")}
        noticed = {
            row[0]
            for row in conn.execute(
                """SELECT m.provider_sid FROM messages m JOIN learner_rate_limits r ON r.learner_id = m.learner_id
                   WHERE m.direction = 'in' AND r.noticed IS NOT NULL"""
            )
        }
        # Replies carry their message's key: in:whatsapp:<sid>:out:<n>; provider_sid is set once sent.
        replies = conn.execute(
            """SELECT substr(idempotency_key, 13, 34) AS sid, MIN(id), MIN(provider_sid IS NOT NULL)
               FROM messages WHERE direction = 'out' AND idempotency_key LIKE 'in:whatsapp:%:out:%' GROUP BY sid"""
        ).fetchall()
        # The order each learner's replies were written in (the outbox sends one learner's rows in id order).
        reply_order = {
            row[0]: n
            for n, row in enumerate(
                conn.execute(
                    "SELECT substr(idempotency_key, 13, 34) FROM messages WHERE direction = 'out' "
                    "AND idempotency_key LIKE 'in:whatsapp:%:out:0' ORDER BY id"
                )
            )
        }
    finally:
        conn.close()
    answered = {sid for sid, _, _ in replies}
    by_learner: dict[str, list[str]] = {}
    acked_set = set(acked)
    for form in forms:  # send order
        if form["MessageSid"] in acked_set:
            by_learner.setdefault(form["From"], []).append(form["MessageSid"])
    out_of_order = 0
    for sids in by_learner.values():
        for first, then in zip(sids, sids[1:]):
            if times[first][1] < times[then][0] and reply_order.get(first, -1) > reply_order.get(then, -1):
                out_of_order += 1
                break
    return {
        "lost": sum(1 for sid in acked if sid not in stored and sid not in kept),
        "still_kept": sum(1 for sid in acked if sid in kept),
        "doubled": sum(1 for count in stored.values() if count > 1),
        "unanswered": sum(1 for sid in acked if sid not in answered and sid not in noticed and sid not in kept),
        "throttled": sum(1 for sid in acked if sid not in answered and sid in noticed),
        "learners_out_of_order": out_of_order,
    }


def _run_factor(args, tmp: Path, double_url: str, capacity: float, factor: float, budget_ms: int | None) -> dict:
    label = "queue on" if budget_ms is None else "queue off (before #15)"
    data = tmp / f"x{factor:g}-{'on' if budget_ms is None else 'off'}"
    port = 18440 + int(factor * 2) + (0 if budget_ms is None else 1)
    server = _start(data, port, double_url, budget_ms, args.server_cpus)
    try:
        rate = capacity * factor
        forms = _plan(rate, args.seconds, f"{int(factor * 10)}{'1' if budget_ms is None else '0'}", seed=int(factor))
        warm = _warm_up(port)
        cpu0 = _cpu_seconds(server.pid)
        result = _open_loop(port, forms, rate, timeline=args.timeline)
        cpu = _cpu_seconds(server.pid) - cpu0
        print(
            f"  {factor:g}x, {label}: sent {result['requests']}, answered 200: {result['ok']}, timeouts "
            f"{result['timeouts']}, errors {result['errors']}, p99 {result['p99_ms']:.0f} ms; waiting for the replies…",
            flush=True,
        )
        settle = _settle(data / "coachbox.db", result["ok"] + warm, limit=args.settle_seconds)
        checks = _check(data / "coachbox.db", forms, result.pop("acked"), result.pop("times"))
    finally:
        server.terminate()
        server.wait(30)
    line = {
        "rate": round(rate),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()},
        **checks,
        "replies_done_after_s": round(settle, 1),
        "cpu_ms_per_message": round(cpu / max(1, result["ok"]) * 1000, 2),
    }
    print(f"{factor:g}x capacity, {label}: {json.dumps(line)}", flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--capacity-seconds", type=int, default=10)
    parser.add_argument("--factors", default="2,5")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--timeline", action="store_true", help="the open loop's p50 and p99 in each 5 s window")
    parser.add_argument(
        "--capacity",
        type=float,
        help="turns/s to take as the capacity instead of measuring it (to compare trees or settings at one rate)",
    )
    parser.add_argument("--settle-seconds", type=float, default=900, help="longest wait for every reply to leave")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the server on CPU 0 and everything else (this generator, wrk, the Twilio double) on the other "
        "cores, as in production, where the load comes from elsewhere; capacity is measured pinned too",
    )
    args = parser.parse_args()
    args.server_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--pin needs at least two CPUs")
        args.server_cpus = {cpus[0]}
        os.sched_setaffinity(0, set(cpus[1:]))  # inherited by the double and wrk, started from here
    double = subprocess.Popen(
        [sys.executable, "-c", DOUBLE], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    double_url = double.stdout.readline().strip()
    missed = []
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            # Given (--capacity), it is taken as it is; else measured, with the acknowledgements beside it.
            capacities = {"turns (queue off)": args.capacity}
            closed_loops = (("turns (queue off)", 10_000_000), ("acknowledgements (queue on)", None))
            for name, budget in () if args.capacity else closed_loops:
                server = _start(tmp / f"cap-{budget}", 18439, double_url, budget, args.server_cpus)
                script = tmp / f"cap-{budget}.lua"
                _lua(script, PUBLIC.format(port=18439) + "/webhooks/twilio", 40_000, "9" if budget else "8")
                rps, _ = _wrk(18439, script, args.capacity_seconds)
                server.terminate()
                server.wait(30)
                capacities[name] = rps
                print(f"closed loop, new learners, every message once: {name} {rps:.0f} req/s", flush=True)
            capacity = capacities["turns (queue off)"]
            for factor in (float(f) for f in args.factors.split(",")):
                if args.baseline:
                    _run_factor(args, tmp, double_url, capacity, factor, 10_000_000)
                line = _run_factor(args, tmp, double_url, capacity, factor, None)
                if line["p99_ms"] >= 200 or line["timeouts"] or line["errors"]:
                    missed.append(f"{factor:g}x: p99 {line['p99_ms']:.0f} ms, {line['timeouts']} timeouts")
                if line["lost"] or line["doubled"] or line["unanswered"] or line["learners_out_of_order"]:
                    missed.append(f"{factor:g}x: {line}")
    finally:
        double.stdin.close()
        double.wait(10)
    if missed:
        print("target missed: " + "; ".join(missed))
        raise SystemExit(1)
    print("targets met: p99 < 200 ms, 0 timeouts, 0 lost, 0 doubled, every reply sent in order")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
