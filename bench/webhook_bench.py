"""Webhook figures: coachbox POST /webhooks/twilio (signature + de-dup + engine + outbox) vs a bare Sanic form
handler with wrk; an open-loop 1 inbound : 3 status-callback mix; MessageSid replays x5.

    .venv/bin/python bench/webhook_bench.py [--seconds 10] [--open-rate 1000] [--open-seconds 60]

Needs wrk (Debian: apt-get install -y wrk). The open-loop part is a small asyncio generator (aiohttp) that
fires on a fixed schedule and measures from the scheduled time (no coordinated omission), since wrk2 is
not packaged for Debian.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from twilio.request_validator import RequestValidator  # noqa: E402

from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

PUBLIC = "http://127.0.0.1:{port}"
# As `coachbox run` serves (Sanic's multi-process mode, [server] workers from the environment), without the
# Huey consumer: this measures the web process.
SERVER = """
from coachbox.appliance import init_box, serve
from coachbox.config import Settings
settings = Settings.load()
init_box(settings, quiet=True)
serve(settings, with_worker=False)
"""
BARE = """
import sys
from sanic import Sanic
from sanic.response import text
app = Sanic("bare")
@app.post("/webhooks/twilio")
async def hook(request):
    request.form
    return text('<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type="text/xml")
app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
"""
DOUBLE = """
import sys
from tests.doubles.twilio_double import TwilioDouble
d = TwilioDouble().start()
print(d.url, flush=True)
sys.stdin.read()
"""


def _form(n: int, prefix: str) -> dict:
    sid = f"SM{prefix}{n:030d}"[:34]
    phone = f"+2547{n % 5000:08d}"
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{phone}",
            "To": "whatsapp:+14155238886", "Body": "hi", "NumMedia": "0", "ProfileName": "Bench",
            "WaId": phone[1:], "ApiVersion": "2010-04-01"}


def _signed(url: str, form: dict) -> tuple[str, str]:
    return urlencode(form), RequestValidator(AUTH_TOKEN).compute_signature(url, form)


def _lua(path: Path, url: str, count: int, prefix: str) -> None:
    lines = ["local reqs = {}"]
    for n in range(count):
        body, sig = _signed(url, _form(n, prefix))
        lines.append(f'reqs[{n + 1}] = wrk.format("POST", "/webhooks/twilio", '
                     f'{{["Content-Type"]="application/x-www-form-urlencoded", ["X-Twilio-Signature"]="{sig}"}}, "{body}")')
    lines += ["local i = 0", "request = function()", "  i = i % #reqs + 1", "  return reqs[i]", "end"]
    path.write_text("\n".join(lines))


def _wrk(port: int, script: Path, seconds: int) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    bad = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if bad:
        # A rejected signature (403) is much cheaper than a turn: such a run would flatter coachbox.
        raise SystemExit(f"wrk saw errors on port {port}: {bad}")
    return rps, out


def _cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and its descendants so far (Linux /proc): the per-request cost,
    which other jobs on a shared box do not distort the way they distort req/s."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree, total = {root}, 0.0
    for _ in range(4):  # Sanic: main process -> worker processes
        tree |= {pid for pid, (ppid, _) in stats.items() if ppid in tree}
    for pid in tree:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def _wait(port: int) -> None:
    import socket

    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not start")


async def _open_loop(port: int, rate: float, seconds: float, offset: int) -> dict:
    import aiohttp

    base = PUBLIC.format(port=port)
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.5
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i: int) -> None:
            nonlocal errors
            if i % 4 == 0:
                path, form = "/webhooks/twilio", _form(offset + i, "9")
            else:
                path = "/webhooks/twilio/status?m=1"
                form = {"MessageSid": f"SM{i:032d}", "MessageStatus": ["sent", "delivered", "read"][i % 4 - 1],
                        "AccountSid": ACCOUNT_SID}
            body, sig = _signed(base + path, form)
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                async with session.post(base + path, data=body, headers={
                        "X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}) as r:
                    await r.read()
                    if r.status >= 400:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(i) for i in range(total)))
    latencies.sort()
    if not latencies:
        return {"requests": 0, "errors": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {"requests": total, "errors": errors, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "max_ms": latencies[-1] * 1000}


async def _replays(port: int, count: int) -> None:
    import aiohttp

    base = PUBLIC.format(port=port)
    async with aiohttp.ClientSession() as session:
        async def post(form: dict) -> int:
            body, sig = _signed(base + "/webhooks/twilio", form)
            async with session.post(base + "/webhooks/twilio", data=body, headers={
                    "X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}) as r:
                return r.status

        for n in range(count):
            form = _form(n, "7")
            await post(form)
            await post(form)
            await asyncio.gather(post(form), post(form), post(form))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--open-rate", type=float, default=1000)
    parser.add_argument("--open-seconds", type=float, default=60)
    parser.add_argument("--replays", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="[server] workers for coachbox")
    parser.add_argument("--messages-per-second", type=int, default=1000,
                        help="[twilio] messages_per_second for the reply sender (production: at most 80)")
    parser.add_argument("--py-spy", metavar="OUT", help="record the coachbox server with py-spy during its wrk run "
                        "(collapsed stacks to OUT; needs `pip install py-spy`, not a project dependency)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk")
    double = subprocess.Popen([sys.executable, "-c", DOUBLE], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    double_url = double.stdout.readline().strip()
    procs = [double]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            port, bare_port = 18431, 18432
            env = {"COACHBOX_PATHS_DATA_DIR": str(tmp / "data"), "COACHBOX_LOG_LEVEL": "ERROR",
                   "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                   "COACHBOX_TWILIO_API_BASE_URL": double_url, "COACHBOX_TWILIO_MESSAGES_PER_SECOND": str(args.messages_per_second),
                   "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
                   "COACHBOX_SERVER_PUBLIC_URL": PUBLIC.format(port=port), "COACHBOX_SERVER_PORT": str(port),
                   "COACHBOX_SERVER_HOST": "127.0.0.1", "COACHBOX_SERVER_WORKERS": str(args.workers),
                   "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
                   "PATH": "/usr/bin:/bin"}
            server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=REPO, env=env,
                                      stdout=subprocess.DEVNULL)
            bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)], cwd=REPO, stdout=subprocess.DEVNULL)
            procs += [server, bare]
            _wait(port), _wait(bare_port)
            script = tmp / "inbound.lua"
            _lua(script, PUBLIC.format(port=port) + "/webhooks/twilio", 20000, "1")
            bare_script = tmp / "bare.lua"
            _lua(bare_script, PUBLIC.format(port=bare_port) + "/webhooks/twilio", 2000, "2")
            bare_rps, _ = _wrk(bare_port, bare_script, args.seconds)
            spy = None
            if args.py_spy:
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses", "--gil",
                                        "--format", "raw", "-r", "200", "-d", str(args.seconds), "-o", args.py_spy,
                                        "-p", str(server.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu_before, wall = _cpu_seconds(server.pid), time.perf_counter()
            full_rps, full_out = _wrk(port, script, args.seconds)
            cpu, wall = _cpu_seconds(server.pid) - cpu_before, time.perf_counter() - wall
            cpu_ms = cpu / (full_rps * wall) * 1000
            if spy is not None:
                spy.wait(timeout=30)
            print(f"bare Sanic form POST: {bare_rps:.0f} req/s; coachbox webhook, {args.workers} worker(s) (signature + de-dup + engine + "
                  f"outbox), sender cap {args.messages_per_second}/s: {full_rps:.0f} req/s; ratio {full_rps / bare_rps * 100:.1f}%")
            print(f"  coachbox used {cpu / wall * 100:.0f}% of a core: {cpu_ms:.2f} ms CPU per webhook "
                  f"(server processes, including its reply sender)")
            print("  (wrk cycles 20,000 signed messages: later rounds are replays, answered by de-dup)")
            result = asyncio.run(_open_loop(port, args.open_rate, args.open_seconds, 100_000))
            print(f"open loop {args.open_rate:.0f} req/s for {args.open_seconds:.0f} s (1 inbound : 3 status): "
                  + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}))
            missed = []
            if full_rps / bare_rps < 0.30:
                missed.append(f"throughput {full_rps / bare_rps * 100:.0f}% of bare Sanic (target >= 30%)")
            if result["errors"] or result["p99_ms"] >= 50:
                missed.append(f"open loop p99 {result['p99_ms']:.0f} ms, {result['errors']} errors (target < 50 ms, 0)")
            asyncio.run(_replays(port, args.replays))
            conn = sqlite3.connect(tmp / "data" / "coachbox.db")
            inbound = conn.execute("SELECT COUNT(*) FROM messages WHERE direction='in' AND provider_sid LIKE 'SM7%'").fetchone()[0]
            # Replies are keyed by the inbound MessageSid (idempotency key "in:whatsapp:<sid>:out:<n>").
            answered = conn.execute("SELECT COUNT(DISTINCT substr(idempotency_key, 1, 46)) FROM messages "
                                    "WHERE direction = 'out' AND idempotency_key LIKE 'in:whatsapp:SM7%:out:0'").fetchone()[0]
            print(f"replays: {args.replays} MessageSids x5 (2 sequential + 3 concurrent) -> {inbound} stored inbound rows, "
                  f"{answered} answered once each")
            if inbound != args.replays or answered != args.replays:
                raise SystemExit("FAILED: every replayed MessageSid must be stored and answered exactly once")
            if missed:
                print("target missed: " + "; ".join(missed))
                raise SystemExit(1)
    finally:
        for proc in procs:
            if proc is double:
                proc.stdin.close()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
