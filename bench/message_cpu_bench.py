"""Where a learner's message costs CPU: its turn, each reply sent, each status callback, and end to end, on a
steady-state mix of returning learners; against bare Sanic and an earlier commit in the same run (issue #15).

    .venv/bin/python bench/message_cpu_bench.py [--learners 2000] [--seconds 8] [--against 4e33503]

For each tree (this checkout, and with --against a `git worktree` of that commit, made under /tmp and reused),
one web worker as `coachbox run` serves it (no Huey consumer), with the Twilio double in a process of its own.
CPU is the server's user + system time from /proc, so the load generators' own work is not counted.

1. warm-up: every learner onboards (hi, yes, 1, 1, 7, QUIZ: name, language, course, lesson time, then the first
   lesson and its quiz), which also gives the CPU of an onboarding turn;
2. turns, with the sender held (a cap of one send per 1,000 s) so only turns run:
   a. at a programme's pace: the mix at --turn-rate (100/s) on a fixed schedule: CPU per turn;
   b. at full speed: wrk, 16 connections, each message once: turns per second and their CPU;
   c. a flood: wrk, 256 connections: webhooks acknowledged per second (the intake keeps what turns cannot run at
      once, durably; the run waits until every kept turn has run);
3. replies: the server restarts with the production cap (80/s, Twilio's WhatsApp default) for --seconds: CPU per
   reply sent; then with the cap lifted until all are sent;
4. status callbacks for those replies (sent, delivered, read; real sids, ?m=id): at 3x the cap on a fixed
   schedule (as they come), then wrk at full speed;
5. bare Sanic: a form POST answered with empty TwiML, wrk with the same settings: its req/s and CPU per request.

End-to-end CPU per inbound message = turn + replies per message x (reply + 3 callbacks), as a programme pays it,
at its pace (the headline) and at full speed. A request costs more CPU when requests come one at a time than in a
burst (each wakes the server on its own): bare Sanic itself costs ~0.5 ms a request at 100-240/s against ~0.1 ms
under wrk, so the paced figures carry that floor.

The steady-state mix (what a running programme receives; most learners are returning ones), per message:
  58 % quiz answers (A/B/C/D, 1/2/3, true/false), 12 % commands (NEXT, PROGRESS, HELP), 8 % questions for the
  tutor (free text), 10 % new learners ("hi" from a number not seen before), 12 % small talk ("ok", "thanks", 👍).
The rate limits are lifted for the bench's learners (they write far faster than people). What the turns did is
counted from the database afterwards (quiz answers recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.webhook_bench import (  # noqa: E402
    BARE,
    DOUBLE,
    PUBLIC,
    SERVER,
    _cpu_seconds,
    _signed,
    _wait,
    _write_lua,
)
from bench.webhook_bench import _wrk as webhook_wrk  # noqa: E402
from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

MIX = (
    (0.58, "answer", ("A", "B", "C", "D", "1", "2", "3", "true", "false", "b", "c")),
    (0.12, "command", ("NEXT", "PROGRESS", "HELP")),
    (0.08, "question", ("Why do plants need sunlight?", "what is a verb", "How do I save money every week?")),
    (0.10, "new", ("hi",)),
    (0.12, "small talk", ("ok", "thanks", "👍", "Ok thank you")),
)
FLOOD_CONNECTIONS = 256  # the acknowledgement run: a burst, more waiting turns than the budget: the intake keeps them


def _form(sid: str, phone: str, body: str) -> dict:
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Bench",
        "WaId": phone[1:],
        "ApiVersion": "2010-04-01",
    }


def _phone(n: int) -> str:
    return f"+2547{n:08d}"


def steady_mix(learners: int, count: int, seed: int = 15) -> list[tuple[str, str, str]]:
    """(kind, phone, body) in sending order: rounds over the returning learners, new ones among them."""
    rng = random.Random(seed)
    out, new = [], 0
    weights = [w for w, _, _ in MIX]
    while len(out) < count:
        for n in range(learners):
            _, kind, bodies = rng.choices(MIX, weights)[0]
            if kind == "new":
                new += 1
                out.append((kind, _phone(50_000_000 + new), "hi"))
            else:
                out.append((kind, _phone(n), rng.choice(bodies)))
            if len(out) == count:
                break
    return out


def _inbound_lua(path: Path, url: str, messages: list[tuple[str, str, str]], prefix: str) -> None:
    lines = ["local reqs = {}"]
    for n, (_, phone, body) in enumerate(messages):
        sid = f"SM{prefix}{n:030d}"[:34]
        encoded, sig = _signed(url, _form(sid, phone, body))
        lines.append(
            f'reqs[{n + 1}] = wrk.format("POST", "/webhooks/twilio", '
            f'{{["Content-Type"]="application/x-www-form-urlencoded", ["X-Twilio-Signature"]="{sig}"}}, "{encoded}")'
        )
    _write_lua(path, lines)


def _status_lua(path: Path, base: str, rows: list[tuple[int, str]]) -> int:
    lines, n = ["local reqs = {}"], 0
    for message_id, sid in rows:
        route = f"/webhooks/twilio/status?m={message_id}"
        for status in ("sent", "delivered", "read"):
            form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID, "To": "whatsapp:+2547"}
            encoded, sig = _signed(base + route, form)
            n += 1
            lines.append(
                f'reqs[{n}] = wrk.format("POST", "{route}", '
                f'{{["Content-Type"]="application/x-www-form-urlencoded", ["X-Twilio-Signature"]="{sig}"}}, '
                f'"{encoded}")'
            )
    _write_lua(path, lines)
    return n


def _wrk(
    port: int, script: Path, seconds: float, *, replays_ok: bool = False, connections: int = 16
) -> tuple[float, int]:
    """(req/s, requests): webhook_bench's wrk run (every request 2xx, no replays unless allowed)."""
    rps, out = webhook_wrk(port, script, seconds, replays_ok=replays_ok, connections=connections)
    return rps, int(next(line.split()[0] for line in out.splitlines() if "requests in" in line))


def _one(db: Path, sql: str, *args) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, args).fetchone()[0] or 0
    except sqlite3.OperationalError:  # a table an older tree does not have
        return 0
    finally:
        conn.close()


def _settled(db: Path, sql: str, limit: float = 300.0, still: float = 3.0) -> float:
    """Wait until `sql` counts 0 (or stops moving for `still` s); returns when it did (perf_counter)."""
    last, since, deadline = None, time.perf_counter(), time.perf_counter() + limit
    while time.perf_counter() < deadline:
        value = _one(db, sql)
        now = time.perf_counter()
        if value == 0:
            return now
        if value != last:
            last, since = value, now
        elif now - since > still:
            return since
        time.sleep(0.05)
    return time.perf_counter()


class Tree:
    """One checkout's server, its data folder and its figures."""

    def __init__(self, label: str, root: Path, tmp: Path, double_url: str, port: int) -> None:
        self.label, self.root, self.port = label, root, port
        self.data = tmp / label
        self.db = self.data / "coachbox.db"
        self.base = PUBLIC.format(port=port)
        self.env = {
            "COACHBOX_PATHS_DATA_DIR": str(self.data),
            "COACHBOX_LOG_LEVEL": "ERROR",
            "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "COACHBOX_TWILIO_API_BASE_URL": double_url,
            "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "COACHBOX_SERVER_PUBLIC_URL": self.base,
            "COACHBOX_SERVER_PORT": str(port),
            "COACHBOX_SERVER_HOST": "127.0.0.1",
            "COACHBOX_SERVER_WORKERS": "1",
            # A bench learner writes far faster than a person: no turn may end early as throttled.
            "COACHBOX_LEARNING_BURST_PER_MINUTE": "100000",
            "COACHBOX_LEARNING_RATE_LIMIT_PER_HOUR": "100000",
            "COACHBOX_CONFIG": str(root / "coachbox.toml"),
            "PATH": "/usr/bin:/bin",
        }
        self.server: subprocess.Popen | None = None
        self.figures: dict[str, float] = {}

    def start(self, rate: float) -> None:
        env = {**self.env, "COACHBOX_TWILIO_MESSAGES_PER_SECOND": str(rate)}
        with open(self.data.parent / f"{self.label}-server.log", "a") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-c", SERVER], cwd=self.root, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        _wait(self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
            self.server = None

    def cpu(self) -> float:
        assert self.server is not None
        return _cpu_seconds(self.server.pid)


ONBOARDING = ("hi", "yes", "1", "1", "7", "QUIZ")  # hello, my name, English, course 1, lessons at 07:00, the quiz


async def _onboard(base: str, learners: int) -> None:
    """Every learner's first five messages, in order (32 learners at a time): after them the learner has had
    their first lesson and is in its quiz, as a returning learner is."""
    import aiohttp

    queue = list(range(learners))

    async def worker(session) -> None:
        while queue:
            n = queue.pop()
            for step, body in enumerate(ONBOARDING):
                sid = f"SMW{step}{n:030d}"
                encoded, sig = _signed(base + "/webhooks/twilio", _form(sid, _phone(n), body))
                async with session.post(
                    base + "/webhooks/twilio",
                    data=encoded,
                    headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
                ) as r:
                    await r.read()
                    if r.status != 200:
                        raise SystemExit(f"warm-up: {r.status}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(32)))


async def _paced(base: str, requests: list[tuple[str, str, str]], rate: float) -> int:
    """POST (path, body, signature) at `rate` per second on a fixed schedule (open loop); how many failed."""
    import aiohttp

    failed = 0

    async def one(session, path: str, body: str, sig: str) -> None:
        nonlocal failed
        async with session.post(
            base + path,
            data=body,
            headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
        ) as r:
            await r.read()
            failed += r.status >= 300

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        start, tasks = time.perf_counter(), []
        for i, request in enumerate(requests):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(session, *request)))
        await asyncio.gather(*tasks)
    return failed


def _inbound_requests(base: str, messages: list[tuple[str, str, str]], prefix: str) -> list[tuple[str, str, str]]:
    out = []
    for n, (_, phone, body) in enumerate(messages):
        encoded, sig = _signed(base + "/webhooks/twilio", _form(f"SM{prefix}{n:030d}"[:34], phone, body))
        out.append(("/webhooks/twilio", encoded, sig))
    return out


def _status_requests(base: str, rows: list[tuple[int, str]]) -> list[tuple[str, str, str]]:
    out = []
    for message_id, sid in rows:
        route = f"/webhooks/twilio/status?m={message_id}"
        for status in ("sent", "delivered", "read"):
            form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID, "To": "whatsapp:+2547"}
            encoded, sig = _signed(base + route, form)
            out.append((route, encoded, sig))
    return out


OUT_QUEUED = "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND provider_sid IS NULL"
INBOUND = "SELECT COUNT(*) FROM messages WHERE direction = 'in'"
SENT = "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND provider_sid IS NOT NULL"


def _release_cap(tree: Tree) -> None:
    """The held sender reserved its slots 1,000 s apart in diskcache: start the cap afresh."""
    import diskcache

    with diskcache.Cache(str(tree.data / "cache")) as cache:
        cache.delete("outbox:twilio:next-slot")


def measure(tree: Tree, args, messages: list[tuple[str, str, str]], tmp: Path) -> None:
    f = tree.figures
    held = 0.001  # the sender's cap while turns are measured: one send per 1,000 s
    tree.start(held)
    # 1. warm-up: learners onboard (kept messages included: CPU until the last turn ran)
    cpu0 = tree.cpu()
    asyncio.run(_onboard(tree.base, args.learners))
    _settled(tree.db, "SELECT COUNT(*) FROM inbound_queue")
    f["new learner turn ms"] = (tree.cpu() - cpu0) / (args.learners * len(ONBOARDING)) * 1000
    # 2. the steady-state mix at a steady rate, as a running programme sees it
    paced = messages[: int(args.turn_rate * args.seconds)]
    requests = _inbound_requests(tree.base, paced, "P")
    before, queued_before, cpu0 = _one(tree.db, INBOUND), _one(tree.db, OUT_QUEUED), tree.cpu()
    failed = asyncio.run(_paced(tree.base, requests, args.turn_rate))
    _settled(tree.db, "SELECT COUNT(*) FROM inbound_queue")
    turns = _one(tree.db, INBOUND) - before
    f["turn ms"] = (tree.cpu() - cpu0) / turns * 1000
    f["replies per message"] = (_one(tree.db, OUT_QUEUED) - queued_before) / turns
    if failed or turns != len(paced):
        raise SystemExit(f"{tree.label}: {failed} webhooks failed, {turns} of {len(paced)} turns ran")
    # 2b. closed loop (16 connections, each message once): turns per second, and their CPU at full speed
    script = tmp / f"{tree.label}-mix.lua"
    _inbound_lua(script, tree.base + "/webhooks/twilio", messages[len(paced) :], "S")
    before, cpu0, wall0 = _one(tree.db, INBOUND), tree.cpu(), time.perf_counter()
    _, f["acked"] = _wrk(tree.port, script, args.seconds)
    done_at = _settled(tree.db, "SELECT COUNT(*) FROM inbound_queue")  # kept messages run (trees with the intake)
    turns = _one(tree.db, INBOUND) - before
    f["turns/s"], f["turns"] = turns / (done_at - wall0), turns
    f["turn ms, full speed"] = (tree.cpu() - cpu0) / turns * 1000
    # 2c. a flood (more connections than turns keep up with): how many webhooks are acknowledged per second
    flood = steady_mix(args.learners, args.flood_messages, seed=16)
    script = tmp / f"{tree.label}-flood.lua"
    _inbound_lua(script, tree.base + "/webhooks/twilio", flood, "F")
    f["ack req/s"], _ = _wrk(tree.port, script, args.seconds, connections=FLOOD_CONNECTIONS)
    _settled(tree.db, "SELECT COUNT(*) FROM inbound_queue", limit=600)
    f["answers recorded"] = _one(tree.db, "SELECT COUNT(*) FROM answers")
    tree.stop()
    _release_cap(tree)
    # 3. replies at the production cap (80/s: Twilio's WhatsApp default), then with the cap lifted
    tree.start(args.reply_rate)
    time.sleep(2)  # past start-up and the reconcile
    sent0, cpu0, wall0 = _one(tree.db, SENT), tree.cpu(), time.perf_counter()
    time.sleep(args.seconds)
    sent = _one(tree.db, SENT) - sent0
    f["reply ms"] = (tree.cpu() - cpu0) / max(1, sent) * 1000
    f["replies/s at the cap"] = sent / (time.perf_counter() - wall0)
    print(f"  {tree.label}: {sent} replies sent at the cap of {args.reply_rate:g}/s", flush=True)
    tree.stop()
    _release_cap(tree)
    tree.start(args.rate)
    sent0, cpu0 = _one(tree.db, SENT), tree.cpu()
    _settled(tree.db, "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'queued'", still=15)
    sent = _one(tree.db, SENT) - sent0
    f["reply ms, cap lifted"] = (tree.cpu() - cpu0) / max(1, sent) * 1000
    print(f"  {tree.label}: {sent} replies sent with the cap lifted, {_one(tree.db, OUT_QUEUED)} not sent", flush=True)
    # 4. status callbacks: sent, delivered, read for each reply, at 3x the cap (as they come), then wrk at full speed
    conn = sqlite3.connect(tree.db)
    rows = conn.execute(
        "SELECT id, provider_sid FROM messages WHERE direction = 'out' AND provider_sid IS NOT NULL ORDER BY id"
    ).fetchall()
    conn.close()
    count = int(args.reply_rate * 3 * args.seconds)
    requests = _status_requests(tree.base, rows[: count // 3])
    cpu0 = tree.cpu()
    if asyncio.run(_paced(tree.base, requests, args.reply_rate * 3)):
        raise SystemExit(f"{tree.label}: status callbacks failed")
    f["callback ms"] = (tree.cpu() - cpu0) / len(requests) * 1000
    script = tmp / f"{tree.label}-status.lua"
    _status_lua(script, tree.base, rows[count // 3 :])
    cpu0 = tree.cpu()
    f["callbacks/s"], callbacks = _wrk(tree.port, script, args.status_seconds)
    f["callback ms, full speed"] = (tree.cpu() - cpu0) / callbacks * 1000
    tree.stop()
    per = f["replies per message"]
    f["end to end ms"] = f["turn ms"] + per * (f["reply ms"] + 3 * f["callback ms"])
    f["end to end ms, full speed"] = f["turn ms, full speed"] + per * (
        f["reply ms, cap lifted"] + 3 * f["callback ms, full speed"]
    )


def _bare(tmp: Path, args, port: int) -> dict[str, float]:
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(port)], cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        _wait(port)
        script = tmp / "bare.lua"
        _inbound_lua(script, PUBLIC.format(port=port) + "/webhooks/twilio", steady_mix(100, 2000), "B")
        cpu0 = _cpu_seconds(bare.pid)
        rps, total = _wrk(port, script, args.seconds, replays_ok=True)
        return {"req/s": rps, "ms": (_cpu_seconds(bare.pid) - cpu0) / total * 1000}
    finally:
        bare.terminate()
        bare.wait(timeout=10)


def _worktree(commit: str) -> Path:
    path = Path(f"/tmp/cb-{commit[:7]}")
    if not (path / "coachbox").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=REPO, check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=2000, help="returning learners (each says hi first)")
    parser.add_argument("--messages", type=int, default=16000, help="steady-state messages in wrk's list")
    parser.add_argument("--seconds", type=float, default=8, help="wrk seconds for the mix and for bare Sanic")
    parser.add_argument("--flood-messages", type=int, default=60000, help="the acknowledgement run's list")
    parser.add_argument("--status-seconds", type=float, default=6)
    parser.add_argument("--turn-rate", type=float, default=100, help="inbound/s of the paced steady-state run")
    parser.add_argument("--reply-rate", type=float, default=80, help="the sender's cap (production: 80/s)")
    parser.add_argument("--rate", type=float, default=2000, help="the sender's cap for the cap-lifted run")
    parser.add_argument("--tmp", help="make the data folders here (default: the system's temporary folder)")
    parser.add_argument("--against", metavar="COMMIT", help="also measure this commit (a git worktree under /tmp)")
    args = parser.parse_args()
    double = subprocess.Popen(
        [sys.executable, "-c", DOUBLE], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    double_url = double.stdout.readline().strip()
    messages = steady_mix(args.learners, args.messages)
    kinds: dict[str, int] = {}
    for kind, _, _ in messages:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(
        f"steady-state mix of {len(messages)} messages from {args.learners} returning learners: "
        + ", ".join(f"{kind} {count / len(messages) * 100:.0f}%" for kind, count in kinds.items())
    )
    trees = []
    try:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_name:
            tmp = Path(tmp_name)
            if args.against:
                trees.append(Tree(args.against[:7], _worktree(args.against), tmp, double_url, 18441))
            trees.append(Tree("this", REPO, tmp, double_url, 18442))
            bare = _bare(tmp, args, 18440)
            for tree in trees:
                measure(tree, args, messages, tmp)
                if tree.figures["turns"] < len(messages) * 0.5:
                    print(f"  ({tree.label}: only {tree.figures['turns']:.0f} turns in {args.seconds:.0f} s)")
    finally:
        double.stdin.close()
        double.wait(timeout=10)
        for tree in trees:
            tree.stop()
    rows = [
        ("new learner turn ms", "CPU per onboarding turn (ms)"),
        ("turn ms", "CPU per turn, steady-state mix at 100/s (ms)"),
        ("reply ms", "CPU per reply sent at the 80/s cap (ms)"),
        ("callback ms", "CPU per status callback at 240/s (ms)"),
        ("replies per message", "replies per message"),
        ("end to end ms", "END-TO-END CPU per inbound message (ms)"),
        ("turn ms, full speed", "  full speed: CPU per turn, 16 connections"),
        ("reply ms, cap lifted", "  full speed: CPU per reply, cap lifted"),
        ("callback ms, full speed", "  full speed: CPU per status callback (wrk)"),
        ("end to end ms, full speed", "  full speed: end-to-end CPU per inbound"),
        ("turns/s", "turns committed per second (16 connections)"),
        ("ack req/s", "webhooks acknowledged per second (256 conn.)"),
        ("callbacks/s", "status callbacks per second (wrk)"),
    ]
    print(f"\nbare Sanic form POST: {bare['req/s']:.0f} req/s, {bare['ms']:.3f} ms CPU per request")
    print(f"{'':48}" + "".join(f"{tree.label:>12}" for tree in trees))
    for key, label in rows:
        print(f"{label:48}" + "".join(f"{tree.figures[key]:12.2f}" for tree in trees))
    for tree in trees:
        f = tree.figures
        print(
            f"{tree.label}: acknowledgements {f['ack req/s'] / bare['req/s'] * 100:.1f}% of bare Sanic; "
            f"a turn is {f['turn ms'] / bare['ms']:.0f}x a bare request's CPU; {f['turns']:.0f} turns "
            f"({f['acked']:.0f} acknowledged) at full speed, {f['answers recorded']:.0f} quiz answers recorded in all, "
            f"{f['replies/s at the cap']:.0f} replies/s at the cap"
        )
    missed = []
    this = trees[-1].figures
    if this["ack req/s"] / bare["req/s"] < 0.30:
        missed.append(f"acknowledgements {this['ack req/s'] / bare['req/s'] * 100:.0f}% of bare Sanic (target >= 30%)")
    if args.against:
        old = trees[0].figures
        ratio = this["end to end ms"] / old["end to end ms"]
        print(f"end-to-end CPU per inbound message: {ratio * 100:.0f}% of {args.against[:7]} (target <= 50%)")
        if ratio > 0.5:
            missed.append(f"end-to-end CPU {ratio * 100:.0f}% of {args.against[:7]} (target <= 50%)")
    if missed:
        print("target missed: " + "; ".join(missed))
        raise SystemExit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
