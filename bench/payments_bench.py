"""Payment webhook latency and replay safety against a real `coachbox serve` process, over HTTP on loopback.

Starts `python -m coachbox serve` (free port, temp data dir, M-PESA and Stripe pointed at the local doubles
through COACHBOX_* variables) and a bare Sanic JSON POST handler, and drives both with one httpx client, one
request at a time, measured the same way in the same run:
  - fresh M-PESA callbacks (each settles a pending payment: grant, receipt, outbox row),
  - 1,000 replays of one genuine callback (must grant exactly once),
  - signed Stripe invoice.paid events (each records a payment and extends the subscription).
Run: .venv/bin/python bench/payments_bench.py [--quick]   (exit 1 when a p99 >= 50 ms or a replay granted twice)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_MS = 50.0
CALLBACK_SECRET = "cb-" + "7f" * 24
PLANS_TOML = """
[plans.monthly]
title = "Premium, 30 days"
price = { KES = 20000, USD = 250 }
period_days = 30
courses = "all-premium"
free_lessons = 1
grace_days = 2
stripe_price = { USD = "price_usd_monthly" }
"""
BARE = """
import sys
from sanic import Sanic
from sanic.response import json
app = Sanic("bare")
@app.get("/healthz")
async def health(request):
    return json({"status": "ok"})
@app.post("/hook")
async def hook(request):
    request.json  # parse the body, as the real handler does
    return json({"ResultCode": 0, "ResultDesc": "Accepted"})
app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))] * 1000


def _start(argv: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    # Own session: the whole server (Sanic main + worker processes) can be stopped as one group.
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> None:
    # Signalling Sanic before it is up can hang its main process (STACK-NOTES): wait for /healthz first.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on {port} exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on {port} not healthy after 60 s:\n{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _timed_posts(client: httpx.Client, requests: list[tuple[str, bytes, dict]], warmup: int = 0) -> list[float]:
    times = []
    for n, (url, body, headers) in enumerate(requests):
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
        if n >= warmup:
            times.append(elapsed)
    return times


async def _pending_payments(settings, learner: int, count: int) -> list[int]:
    """Pending M-PESA payments whose STK pushes went through the real Daraja client to the double."""
    from datetime import datetime, timedelta

    from coachbox import store
    from coachbox.payments import checkout
    from coachbox.payments.runtime import Payments
    from coachbox.store import payments as pstore

    p = Payments.build(settings)
    conn = store.open_database(settings.db_path)
    now = datetime.now(UTC)
    ids = []
    try:
        for _ in range(count):
            with store.transaction(conn):
                payment_id = checkout.request_mpesa(
                    conn, p, learner_id=learner, plan_name="monthly", phone="+254712345678", now=now
                )
            accepted = await p.daraja.stk_push(
                phone="+254712345678", amount_minor=20000, reference="monthly", description="Coachbox plan", now=now
            )
            with store.transaction(conn):
                pstore.mark_pending(
                    conn,
                    payment_id,
                    checkout_request_id=accepted.checkout_request_id,
                    merchant_request_id=accepted.merchant_request_id,
                    next_query_at=now + timedelta(hours=1),
                    now=now,
                )
            ids.append(payment_id)
    finally:
        await p.aclose()
        conn.close()
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer fresh callbacks and Stripe events")
    args = parser.parse_args()
    fresh_n, stripe_n, replays = (50, 100, 1000) if args.quick else (300, 500, 1000)

    from coachbox import store
    from coachbox.core.config import Settings
    from tests.payments import daraja_double as dd
    from tests.payments import stripe_double as sd
    from tests.payments.conftest import add_learner

    tmp = Path(tempfile.mkdtemp(prefix="payments-bench-"))
    (tmp / "coachbox.toml").write_text(PLANS_TOML)
    daraja, stripe_double = dd.DarajaDouble().start(), sd.StripeDouble().start()
    port, bare_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")},
        "PYTHONPATH": str(REPO),
        "COACHBOX_CONFIG": str(tmp / "coachbox.toml"),
        "COACHBOX_PATHS_DATA_DIR": str(tmp / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_SERVER_HOST": "127.0.0.1",
        "COACHBOX_SERVER_PORT": str(port),
        "COACHBOX_SERVER_PUBLIC_URL": base,
        "COACHBOX_MPESA_CONSUMER_KEY": dd.CONSUMER_KEY,
        "COACHBOX_MPESA_CONSUMER_SECRET": dd.CONSUMER_SECRET,
        "COACHBOX_MPESA_SHORTCODE": dd.SHORTCODE,
        "COACHBOX_MPESA_PASSKEY": dd.PASSKEY,
        "COACHBOX_MPESA_BASE_URL": daraja.base_url,
        "COACHBOX_MPESA_CALLBACK_SECRET": CALLBACK_SECRET,
        "COACHBOX_STRIPE_SECRET_KEY": sd.SECRET_KEY,
        "COACHBOX_STRIPE_WEBHOOK_SECRET": sd.WEBHOOK_SECRET,
        "COACHBOX_STRIPE_API_BASE_URL": stripe_double.base_url,
    }
    settings = Settings.load(tmp / "coachbox.toml", env)
    server = _start([sys.executable, "-m", "coachbox", "serve"], env, tmp, tmp / "server.log")
    bare = _start([sys.executable, "-c", BARE, str(bare_port)], env, tmp, tmp / "bare.log")
    try:
        _wait_healthy(server, port, tmp / "server.log")
        _wait_healthy(bare, bare_port, tmp / "bare.log")
        conn = store.open_database(settings.db_path)
        with store.transaction(conn):
            learner = add_learner(conn)
        ids = asyncio.run(_pending_payments(settings, learner, fresh_n + 1))
        pushes = {p.checkout_request_id: p for p in daraja.pushes}
        refs = [conn.execute("SELECT provider_ref FROM payments WHERE id = ?", (i,)).fetchone()[0] for i in ids]
        path = f"{base}/webhooks/mpesa/{CALLBACK_SECRET}"
        json_headers = {"content-type": "application/json"}
        with httpx.Client(timeout=10) as client:
            # The first fresh callback of a new process pays one-off costs (the OAuth token for the STK query, the
            # handler's first imports): not what the 100th learner waits for, and the baseline is warmed up too.
            fresh = _timed_posts(client, [(path, pushes[r].callback_bytes(), json_headers) for r in refs[1:]], warmup=1)
            replay_body = pushes[refs[0]].callback_bytes()
            replay = _timed_posts(client, [(path, replay_body, json_headers)] * replays)
            meta = {"learner_id": str(learner), "plan": "monthly"}
            t0 = int(time.time()) - 86400
            events = [
                stripe_double.event(
                    "invoice.paid",
                    sd.StripeDouble.invoice(
                        f"in_{n}",
                        "sub_1",
                        meta,
                        amount=250,
                        period_start=t0 + n * 60,
                        period_end=t0 + 30 * 86400 + n * 60,
                    ),
                    created=t0 + n,
                )
                for n in range(stripe_n)
            ]
            stripe_times = _timed_posts(
                client,
                [(f"{base}/webhooks/stripe", e, {**json_headers, "stripe-signature": sd.sign(e)}) for e in events],
                warmup=1,
            )
            bare_times = _timed_posts(
                client, [(f"http://127.0.0.1:{bare_port}/hook", replay_body, json_headers)] * replays, warmup=50
            )
        first = ids[0]
        grants = conn.execute(
            "SELECT count(*) FROM payment_events WHERE provider = 'mpesa' AND payment_id = ? AND outcome = 'paid'",
            (first,),
        ).fetchone()[0]
        receipts = conn.execute(
            "SELECT count(*) FROM messages WHERE idempotency_key = ?", (f"payments:receipt:{first}",)
        ).fetchone()[0]
        paid = conn.execute("SELECT count(*) FROM payments WHERE provider = 'mpesa' AND status = 'paid'").fetchone()[0]
        stripe_paid = conn.execute("SELECT count(*) FROM payments WHERE provider = 'stripe'").fetchone()[0]
        period_end = conn.execute("SELECT current_period_end FROM subscriptions WHERE provider = 'mpesa'").fetchone()[0]
        conn.close()
    finally:
        _stop(server)
        _stop(bare)
        daraja.stop()
        stripe_double.stop()

    rows = [
        (f"M-PESA fresh callbacks x{len(fresh)}", fresh),
        (f"M-PESA replays x{len(replay)}", replay),
        (f"Stripe invoice.paid x{len(stripe_times)}", stripe_times),
        (f"bare Sanic JSON POST x{len(bare_times)}", bare_times),
    ]
    for name, samples in rows:
        print(
            f"{name:32s} p50 {_pct(samples, 0.5):6.2f} ms  p99 {_pct(samples, 0.99):6.2f} ms  "
            f"max {max(samples) * 1000:6.2f} ms"
        )
    print(
        f"replayed callback granted {grants} time(s), receipts {receipts}; M-PESA paid {paid}/{fresh_n + 1}, "
        f"Stripe payments {stripe_paid}/{stripe_n}; prepaid period end {period_end}"
    )
    ok = (
        grants == 1
        and receipts == 1
        and paid == fresh_n + 1
        and stripe_paid == stripe_n
        and all(_pct(s, 0.99) < GOAL_MS for _, s in rows[:3])
    )
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
