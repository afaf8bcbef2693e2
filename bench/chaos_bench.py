"""What survives what, shortened: outbox drains against a misbehaving Twilio double, counting lost and doubled sends.

    .venv/bin/python bench/chaos_bench.py [--messages 500] [--chaos 0.05] [--only kill9,skew-300]

Each experiment writes `--messages` outbox rows (one per learner) into a fresh data folder and drains them with
sender processes of their own (`channels.sender.drain`, what the Huey worker runs every few seconds), while the
double fails `--chaos` of the sends at random as Twilio can: 429, 500 before taking the message, 500 after
taking it, a hang and then a 5xx after taking it. Experiments:

- kill9:       the sender is killed with SIGKILL at 1/3 and again at 2/3 of the run; a third one finishes.
- skew±N:      Twilio's clock N seconds ahead of (+) or behind (-) the box's (the double's date_created and its
               HTTP Date header); the look-up before each resend must still find what Twilio took.
- kill9-skew-300: both at once.

For each it prints how many rows were lost (never accepted by the double, or not 'sent') and doubled (accepted
more than once), and exits 1 if any were. The box waits outbox.UNSURE_SETTLE_SECONDS (30 s) before looking up
an unsure send; the bench shortens that to 2 s (the double records a message at most 1.5 s after the request).
Figures are in docs/operations.md, "What survives what".
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coachbox import store  # noqa: E402
from coachbox.store import transaction  # noqa: E402
from coachbox.store.messages import OutboxDraft, enqueue_outbound  # noqa: E402
from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble  # noqa: E402

# One sender process: drains until every row is settled (retries fall due later) or its time is up.
SENDER = """
import asyncio, sys, time
from coachbox.channels import outbox
outbox.UNSURE_SETTLE_SECONDS = 2.0
from coachbox.core.config import Settings
from coachbox.roots.services import build_services
from coachbox.channels.sender import drain

services = build_services(Settings.load())

def unsettled(conn):
    sql = "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status NOT IN ('sent', 'failed')"
    return conn.execute(sql).fetchone()[0]

async def main():
    deadline = time.monotonic() + float(sys.argv[1])
    try:
        while time.monotonic() < deadline:
            await drain(services, seconds=30)
            if not await services.db.run(unsettled):
                break
            await asyncio.sleep(0.2)
    finally:
        await services.channel.close()

asyncio.run(main())
services.close_sync()
"""

EXPERIMENTS = {
    "kill9": (2, 0),
    "skew-120": (0, -120),
    "skew-300": (0, -300),
    "skew+300": (0, 300),
    "kill9-skew-300": (2, -300),
}


def _environ(data: Path, url: str, rate: float) -> dict[str, str]:
    return {
        **os.environ,
        "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
        "COACHBOX_PATHS_DATA_DIR": str(data),
        "COACHBOX_LOG_LEVEL": "ERROR",
        "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "COACHBOX_TWILIO_API_BASE_URL": url,
        "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "COACHBOX_TWILIO_MESSAGES_PER_SECOND": str(rate),
        "COACHBOX_SERVER_PUBLIC_URL": "https://coach.example.org",
    }


def _fill(db_path: Path, count: int) -> list[int]:
    conn = store.open_database(db_path)
    now = datetime.now(UTC)
    ids = []
    with transaction(conn):
        for n in range(count):
            key = f"whatsapp:+2547{n:08d}"
            conn.execute(
                "INSERT INTO learners (channel_key, channel, created_at, updated_at, last_inbound_at) "
                "VALUES (?, 'whatsapp', ?, ?, ?)",
                (key, now.isoformat(), now.isoformat(), now.isoformat()),
            )
            learner = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            ids.append(
                enqueue_outbound(
                    conn,
                    learner_id=learner,
                    channel="whatsapp",
                    address=key,
                    draft=OutboxDraft(body=f"Lesson {n}: keep your PIN secret."),
                    now=now,
                )
            )
    conn.close()
    return ids


def _sender(environ: dict[str, str], seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SENDER, str(seconds)], cwd=REPO, env=environ, stderr=subprocess.PIPE, text=True
    )


def run(name: str, messages: int, chaos: float, rate: float, seed: int) -> dict:
    kills, skew = EXPERIMENTS[name]
    double = TwilioDouble(now=lambda: datetime.now(UTC) + timedelta(seconds=skew)).start()
    double.chaos(chaos, seed=seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            ids = _fill(data / "coachbox.db", messages)
            environ = _environ(data, double.url, rate)
            started = time.monotonic()
            for step in range(1, kills + 1):
                victim = _sender(environ, 300)
                while len(double.accepted) < messages * step / (kills + 1) and victim.poll() is None:
                    time.sleep(0.005)
                if victim.poll() is None:
                    os.kill(victim.pid, signal.SIGKILL)
                victim.wait(timeout=10)
            last = _sender(environ, 300)
            _, err = last.communicate(timeout=400)
            if last.returncode != 0:
                raise SystemExit(f"{name}: the last sender failed:\n{err}")
            seconds = time.monotonic() - started
            conn = store.open_database(data / "coachbox.db")
            statuses = Counter(r[0] for r in conn.execute("SELECT status FROM messages WHERE direction = 'out'"))
            conn.close()
    finally:
        double.stop()
    tags = Counter(m.tag for m in double.accepted)
    lost = sum(1 for i in ids if tags.get(str(i), 0) == 0) + sum(n for s, n in statuses.items() if s != "sent")
    doubled = sum(n - 1 for n in tags.values() if n > 1)
    return {
        "name": name,
        "messages": messages,
        "kills": kills,
        "skew": skew,
        "lost": lost,
        "doubled": doubled,
        "accepted": len(double.accepted),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--chaos", type=float, default=0.05, help="share of sends the double fails at random")
    parser.add_argument("--rate", type=float, default=100.0, help="[twilio] messages_per_second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(EXPERIMENTS)}")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(EXPERIMENTS)
    failed = False
    print(f"{'experiment':<16} {'messages':>8} {'kill -9':>7} {'skew s':>7} {'lost':>5} {'doubled':>7} {'time s':>7}")
    for name in names:
        result = run(name, args.messages, args.chaos, args.rate, args.seed)
        failed |= bool(result["lost"] or result["doubled"])
        print(
            f"{name:<16} {result['messages']:>8} {result['kills']:>7} {result['skew']:>+7} {result['lost']:>5} "
            f"{result['doubled']:>7} {result['seconds']:>7.1f}",
            flush=True,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
