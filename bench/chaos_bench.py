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
- box-kill9:   a real `coachbox run` (supervisor, web worker, Huey consumer) drains the rows at --box-rate, both
               its drainers sending (the web worker's Sender and the consumer's outbox_drain); while sends are in
               flight the web worker is killed with SIGKILL, then the consumer (the supervisor restarts each),
               then the supervisor itself, after which the whole process group is killed, as a container's
               processes are when its PID 1 dies, and `coachbox run` is started again on the same data folder, as
               Docker's restart policy would. The box keeps its own 30 s wait before looking up an unsure send.

For each it prints how many rows were lost (never accepted by the double, or not 'sent') and doubled (accepted
more than once), and exits 1 if any were. The box waits outbox.UNSURE_SETTLE_SECONDS (30 s) before looking up
an unsure send; the bench shortens that to 2 s (the double records a message at most 1.5 s after the request).
Figures are in docs/operations.md, "What survives what".
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
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
from tests import processes  # noqa: E402
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
    "box-kill9": (3, 0),
}
BOX_FINAL = ("sent", "delivered", "read", "failed")


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _box(environ: dict[str, str], output: Path) -> subprocess.Popen:
    """`coachbox run` in a process group of its own (tests/processes.py), on a free port."""
    argv = [
        sys.executable,
        "-m",
        "coachbox",
        "--config",
        environ["COACHBOX_CONFIG"],
        "run",
        "--port",
        str(_free_port()),
    ]
    return processes.start(argv, env=environ, cwd=REPO, output=output)


def _child(supervisor: int, name: str) -> int | None:
    """The pid of the supervisor's child with this Sanic process name (SANIC_WORKER_NAME in its environment)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != supervisor or fields[0] == "Z":
                continue
            if f"SANIC_WORKER_NAME={name}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return None


def _query(db_path: Path, sql: str, *args) -> list[tuple]:
    conn = store.open_database(db_path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _in_flight(db_path: Path, pids: list[int]) -> int:
    """Rows these processes hold 'sending' (a claimer id is host:pid:nonce:namespace)."""
    rows = _query(db_path, "SELECT claimed_by FROM messages WHERE status = 'sending'")
    return sum(1 for (claimer,) in rows if claimer and int(claimer.split(":")[1]) in pids)


def run_box(messages: int, chaos: float, rate: float, seed: int) -> dict:
    """box-kill9: a whole `coachbox run` draining, its web worker, consumer and supervisor each killed once."""
    double = TwilioDouble().start()
    double.chaos(chaos, seed=seed)
    boxes: list[subprocess.Popen] = []
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            db = data / "coachbox.db"
            ids = _fill(db, messages)
            environ = {
                **{k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")},
                **_environ(data, double.url, rate),
                "COACHBOX_PATHS_CONTENT_DIR": str(Path(tmp) / "no-content"),
            }
            started = time.monotonic()
            boxes.append(_box(environ, Path(tmp) / "box-1.txt"))
            for step, victim in enumerate(("Sanic-Server-0-0", "Sanic-HueyConsumer-0", "supervisor"), start=1):
                box = boxes[-1]
                deadline = time.monotonic() + 120
                pid = None
                # At 1/4, 2/4, 3/4 of the messages taken, and once the victim holds rows 'sending' (in flight).
                while time.monotonic() < deadline and box.poll() is None:
                    pid = box.pid if victim == "supervisor" else _child(box.pid, victim)
                    senders = processes.group_members(box.pid) if victim == "supervisor" else [pid]
                    if pid and len(double.accepted) >= messages * step / 4 and _in_flight(db, senders):
                        break
                    time.sleep(0.01)
                else:
                    raise SystemExit(f"box-kill9: no {victim} with sends in flight (see {tmp}/box-*.txt)")
                flying = _in_flight(db, senders)
                os.kill(pid, signal.SIGKILL)
                notes.append(
                    f"{victim} at {time.monotonic() - started:.0f} s, {len(double.accepted)} taken, {flying} in flight"
                )
                if victim == "supervisor":
                    box.wait(timeout=10)
                    try:
                        os.killpg(box.pid, signal.SIGKILL)  # PID 1 gone: the kernel kills the container's rest
                    except ProcessLookupError:
                        pass
                    while processes.group_members(box.pid):
                        time.sleep(0.01)
                    boxes.append(_box(environ, Path(tmp) / "box-2.txt"))
            deadline = time.monotonic() + 300
            marks = ", ".join("?" * len(BOX_FINAL))
            pending_sql = f"SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status NOT IN ({marks})"
            while time.monotonic() < deadline and _query(db, pending_sql, *BOX_FINAL)[0][0]:
                if boxes[-1].poll() is not None:
                    raise SystemExit(f"box-kill9: coachbox run exited {boxes[-1].returncode} (see {tmp}/box-2.txt)")
                time.sleep(0.2)
            seconds = time.monotonic() - started
            for box in boxes:
                processes.stop(box)
            statuses = Counter(r[0] for r in _query(db, "SELECT status FROM messages WHERE direction = 'out'"))
    finally:
        for box in boxes:
            processes.stop(box)  # SIGTERM, then SIGKILL to whatever of its group is left
        double.stop()
    tags = Counter(m.tag for m in double.accepted)
    final = {"sent", "delivered", "read"}
    lost = sum(1 for i in ids if tags.get(str(i), 0) == 0) + sum(n for s, n in statuses.items() if s not in final)
    doubled = sum(n - 1 for n in tags.values() if n > 1)
    print(f"  box-kill9: killed {'; '.join(notes)}; statuses {dict(statuses)}", flush=True)
    return {
        "name": "box-kill9",
        "messages": messages,
        "kills": 3,
        "skew": 0,
        "lost": lost,
        "doubled": doubled,
        "accepted": len(double.accepted),
        "seconds": seconds,
    }


def run(name: str, messages: int, chaos: float, rate: float, seed: int, box_rate: float = 20.0) -> dict:
    if name == "box-kill9":
        return run_box(messages, chaos, box_rate, seed)
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
    parser.add_argument("--box-rate", type=float, default=20.0, help="[twilio] messages_per_second of box-kill9")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(EXPERIMENTS)}")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(EXPERIMENTS)
    failed = False
    print(f"{'experiment':<16} {'messages':>8} {'kill -9':>7} {'skew s':>7} {'lost':>5} {'doubled':>7} {'time s':>7}")
    for name in names:
        result = run(name, args.messages, args.chaos, args.rate, args.seed, args.box_rate)
        failed |= bool(result["lost"] or result["doubled"])
        print(
            f"{name:<16} {result['messages']:>8} {result['kills']:>7} {result['skew']:>+7} {result['lost']:>5} "
            f"{result['doubled']:>7} {result['seconds']:>7.1f}",
            flush=True,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
