"""Webhook figures: coachbox POST /webhooks/twilio (signature + de-dup + engine + outbox) vs a bare Sanic form
handler with wrk (and coachbox's web layer with a no-op turn: the ceiling); the reply latency at 50 inbound/s;
an open-loop 1 inbound : 3 status-callback mix; MessageSid replays x5.

    .venv/bin/python bench/webhook_bench.py [--seconds 10] [--open-rate 1000] [--open-seconds 60]

Needs wrk (Debian: apt-get install -y wrk). The open-loop part is bench/open_loop.py, a small asyncio generator
that fires on a fixed schedule and measures from the scheduled time (no coordinated omission), since wrk2 is
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

import open_loop  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

PUBLIC = "http://127.0.0.1:{port}"
# As `coachbox run` serves (Sanic's multi-process mode, [server] workers from the environment), without the
# Huey consumer: this measures the web process.
SERVER = """
from coachbox.roots.appliance import init_box, serve
from coachbox.core.config import Settings
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
# The ceiling: coachbox's own web layer (middleware, signature, form parsing, de-dup look-up skipped) with the
# turn replaced by a no-op through the seam the tests use (services.inbound_handler).
NO_TURN = """
import sys
from coachbox.roots.app import create_app
from coachbox.roots.appliance import init_box
from coachbox.core.config import Settings
settings = Settings.load()
init_box(settings, quiet=True)
app = create_app(settings, name="noturn")
class Nothing:
    duplicate, learner_id = True, None
async def no_turn(services, message):
    return Nothing
@app.before_server_start
async def seam(app):
    app.ctx.services.inbound_handler = no_turn
app.run(host="127.0.0.1", port=settings.server.port, single_process=True, access_log=False, motd=False)
"""
# The double runs in its own process; "dump PATH" on its stdin writes what it accepted (To, time.time()) as JSON.
DOUBLE = """
import json, sys
from tests.doubles.twilio_double import TwilioDouble
d = TwilioDouble().start()
print(d.url, flush=True)
for line in sys.stdin:
    if line.startswith("dump "):
        with open(line[5:].strip(), "w") as out:
            json.dump([[m.to, m.at] for m in d.accepted], out)
        print("dumped", flush=True)
"""


def _form(n: int, prefix: str) -> dict:
    sid = f"SM{prefix}{n:030d}"[:34]
    phone = f"+2547{n % 5000:08d}"
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": "hi",
        "NumMedia": "0",
        "ProfileName": "Bench",
        "WaId": phone[1:],
        "ApiVersion": "2010-04-01",
    }


def _signed(url: str, form: dict) -> tuple[str, str]:
    return urlencode(form), RequestValidator(AUTH_TOKEN).compute_signature(url, form)


# Each wrk thread has its own Lua state. They used to share one list from `local i = 0` each, so both threads
# sent the same messages and about half the requests were de-duplicated replays (0.58 ms instead of a 3.2 ms
# turn): the figures overstated coachbox about 2x (issue #15). Now thread k sends messages k, k+T, k+2T…, and
# `done` reports how many requests went past the end of the list (replays) so a run can refuse them.
WRK_THREADS = 2
_STRIDE = [
    "local counter = 0",
    "local threads = {}",
    "function setup(thread)",
    '  thread:set("tid", counter)',
    "  counter = counter + 1",
    "  table.insert(threads, thread)",
    "end",
    "function init(args)",
    "  i = tid",
    "  sent = 0",
    "end",
    "request = function()",
    "  local r = reqs[(i % #reqs) + 1]",
    f"  i = i + {WRK_THREADS}",
    "  sent = sent + 1",
    "  return r",
    "end",
    "function done(summary, latency, requests)",
    "  local total = 0",
    "  for _, t in ipairs(threads) do total = total + t:get('sent') end",
    '  io.write(string.format("SENT %d OF %d\\n", total, #reqs))',
    "end",
]


def _write_lua(path: Path, lines: list[str]) -> None:
    """The request table built in functions of 10,000 entries: one Lua function holds at most 65,536 constants."""
    head, entries = lines[0], lines[1:]
    chunks = []
    for start in range(0, len(entries), 10_000):
        n = start // 10_000
        chunks += [f"local function part{n}()", *entries[start : start + 10_000], "end", f"part{n}()"]
    path.write_text("\n".join([head, *chunks, *_STRIDE]))


def _lua(path: Path, url: str, count: int, prefix: str) -> None:
    lines = ["local reqs = {}"]
    for n in range(count):
        body, sig = _signed(url, _form(n, prefix))
        lines.append(
            f'reqs[{n + 1}] = wrk.format("POST", "/webhooks/twilio", '
            f'{{["Content-Type"]="application/x-www-form-urlencoded", ["X-Twilio-Signature"]="{sig}"}}, "{body}")'
        )
    _write_lua(path, lines)


# Meta's Cloud API double, in a process of its own (the server sends its replies there).
META_DOUBLE = """
import sys, time
from tests.doubles.meta_double import MetaDouble
d = MetaDouble().start()
print(d.url, flush=True)
sys.stdin.read()
"""


def _meta_lua(path: Path, count: int, prefix: str) -> None:
    """wrk requests: signed JSON webhooks (X-Hub-Signature-256) in the shape Meta posts, one text each."""
    from coachbox.channels.meta.webhook import sign
    from tests.doubles.meta_double import APP_SECRET, PHONE_NUMBER_ID

    lines = ["local reqs = {}"]
    for n in range(count):
        wa_id = f"2547{n % 5000:08d}"
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                                "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
                                "messages": [
                                    {
                                        "from": wa_id,
                                        "id": f"wamid.{prefix}{n:030d}",
                                        "timestamp": "1772427600",
                                        "type": "text",
                                        "text": {"body": "hi"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":"))
        signature = sign(APP_SECRET, body.encode())
        lines.append(
            f'reqs[{n + 1}] = wrk.format("POST", "/webhooks/meta", '
            f'{{["Content-Type"]="application/json", ["X-Hub-Signature-256"]="{signature}"}}, [[{body}]])'
        )
    _write_lua(path, lines)


def _meta_line(tmp: Path, env: dict, seconds: int, bare_rps: float, procs: list) -> float:
    """The same full webhook through Meta's channel: signed JSON, engine, outbox, replies to a Graph API double."""
    from tests.doubles.meta_double import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID

    double = subprocess.Popen(
        [sys.executable, "-c", META_DOUBLE], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    procs.append(double)
    double_url = double.stdout.readline().strip()
    port = 18434
    meta_env = {key: value for key, value in env.items() if not key.startswith("COACHBOX_TWILIO_")} | {
        "COACHBOX_PATHS_DATA_DIR": str(tmp / "meta"),
        "COACHBOX_META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "COACHBOX_META_ACCESS_TOKEN": ACCESS_TOKEN,
        "COACHBOX_META_APP_SECRET": APP_SECRET,
        "COACHBOX_META_API_BASE_URL": double_url,
        "COACHBOX_META_MESSAGES_PER_SECOND": env.get("COACHBOX_TWILIO_MESSAGES_PER_SECOND", "1000"),
        "COACHBOX_SERVER_PUBLIC_URL": PUBLIC.format(port=port),
        "COACHBOX_SERVER_PORT": str(port),
    }
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=REPO, env=meta_env, stdout=subprocess.DEVNULL)
    procs.append(server)
    _wait(port)
    script = tmp / "meta.lua"
    _meta_lua(script, 20000, "M")
    cpu_before, wall = _cpu_seconds(server.pid), time.perf_counter()
    rps, _ = _wrk(port, script, seconds)
    cpu, wall = _cpu_seconds(server.pid) - cpu_before, time.perf_counter() - wall
    print(
        f"coachbox Meta webhook (X-Hub-Signature-256 over JSON + de-dup by wamid + engine + outbox to a Graph API "
        f"double): {rps:.0f} req/s = {rps / bare_rps * 100:.1f}% of bare Sanic; {cpu / (rps * wall) * 1000:.2f} ms "
        "CPU per webhook"
    )
    server.terminate()
    return rps


def _wrk(
    port: int, script: Path, seconds: float, *, replays_ok: bool = False, connections: int = 32
) -> tuple[float, str]:
    out = subprocess.run(
        [
            "wrk",
            "--timeout",
            "15s",  # Twilio's: a webhook answered later than this counts as failed
            f"-t{WRK_THREADS}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
    ).stdout
    if "Requests/sec" not in out:
        raise SystemExit(f"wrk did not run on port {port}: {out}")
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    bad = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if bad:
        # A rejected signature (403) is much cheaper than a turn: such a run would flatter coachbox.
        raise SystemExit(f"wrk saw errors on port {port}: {bad}")
    sent = next((line.split() for line in out.splitlines() if line.startswith("SENT ")), None)
    if sent is not None and int(sent[1]) > int(sent[3]) and not replays_ok:
        # A replay is a cheap de-dup answer, not a turn: the run would flatter coachbox (issue #15).
        raise SystemExit(
            f"wrk sent {sent[1]} requests from a list of {sent[3]}: make the list longer or the run shorter"
        )
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


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] if values else 0.0


def _disk(data_dir: Path | None) -> dict[str, float]:
    """MB on disk of the files that grow under load (queue.db and the WALs, the diskcache folder)."""
    if data_dir is None:
        return {}
    sizes = {}
    for name in ("coachbox.db-wal", "queue.db", "queue.db-wal"):
        try:
            sizes[name] = (data_dir / name).stat().st_size / 1e6
        except OSError:
            sizes[name] = 0.0
    sizes["cache"] = (
        sum(f.stat().st_size for f in (data_dir / "cache").rglob("*") if f.is_file()) / 1e6
        if (data_dir / "cache").is_dir()
        else 0.0
    )
    return sizes


def _open_request(base: str, i: int, offset: int) -> tuple[str, str, str]:
    """The open loop's request i (path, body, signature): an inbound message, then three status callbacks."""
    if i % 4 == 0:
        path, form = "/webhooks/twilio", _form(offset + i, "9")
    else:
        path = "/webhooks/twilio/status?m=1"
        form = {
            "MessageSid": f"SM{i:032d}",
            "MessageStatus": ["sent", "delivered", "read"][i % 4 - 1],
            "AccountSid": ACCOUNT_SID,
        }
    body, sig = _signed(base + path, form)
    return path, body, sig


def _open_loop(
    port: int,
    rate: float,
    seconds: float,
    offset: int,
    *,
    data_dir: Path | None = None,
    timeline: bool = False,
    generator: str = "raw",
) -> dict:
    """Fire `rate` req/s for `seconds`, latency measured from each request's scheduled time.

    Every body and signature is computed before the clock starts. generator "raw" is bench/open_loop.py (~0.05 ms
    of CPU a request); "aiohttp" the generator used until the seventh stop of issue #15 (~0.3 ms a request, on
    the same two cores as the server); "eager" that one as it first was (every coroutine created, and its HMAC
    computed, at the start: at 60,000 requests the first second left up to ~1.5 s late and was counted as server
    latency). The generator reports its own lateness (`send_late`: scheduled time -> the request written) and its
    event loop's lag separately, so its own stalls are not mistaken for the server's.
    """
    base = PUBLIC.format(port=port)
    total = int(rate * seconds)
    disk: list[tuple[float, dict]] = []
    if generator == "raw":
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        prepared = []
        for i in range(total):
            path, body, sig = _open_request(base, i, offset)
            prepared.append(
                open_loop.request_bytes(f"127.0.0.1:{port}", path, body, headers | {"X-Twilio-Signature": sig})
            )
        last_disk = [0.0]

        def tick(now: float) -> None:
            if now - last_disk[0] >= 1.0:
                last_disk[0] = now
                disk.append((now, _disk(data_dir)))

        got = open_loop.run("127.0.0.1", port, prepared, rate, tick=tick)
        errors = sum(1 for st in got.status if st >= 400 or st < 0)
        scheduled_at, sent_at, done_at, lags = got.scheduled, got.sent, got.done, got.lag
    else:
        scheduled_at, sent_at, done_at, lags, errors = asyncio.run(
            _aiohttp_open_loop(base, rate, total, offset, disk, data_dir, eager=generator == "eager")
        )
    return _open_figures(scheduled_at, sent_at, done_at, lags, disk, errors, seconds, timeline)


async def _aiohttp_open_loop(
    base: str, rate: float, total: int, offset: int, disk: list, data_dir: Path | None, *, eager: bool
) -> tuple[list[float], list[float], list[float], list[tuple[float, float]], int]:
    import aiohttp

    errors = 0
    scheduled_at = [0.0] * total
    sent_at = [0.0] * total
    done_at = [0.0] * total

    def request(i: int) -> tuple[str, str, str]:
        return _open_request(base, i, offset)

    prepared = None if eager else [request(i) for i in range(total)]
    lags: list[tuple[float, float]] = []  # (when, how late a 10 ms sleep woke up)
    stop = asyncio.Event()

    async def watch() -> None:
        last_disk = 0.0
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            lags.append((now, now - before - 0.01))
            if now - last_disk >= 1.0:
                last_disk = now
                disk.append((now, _disk(data_dir)))

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal errors
            if eager:
                path, body, sig = request(i)
                await asyncio.sleep(max(0.0, scheduled_at[i] - time.perf_counter()))
            else:
                path, body, sig = prepared[i]
            sent_at[i] = time.perf_counter()
            try:
                async with session.post(
                    base + path,
                    data=body,
                    headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
                ) as r:
                    await r.read()
                    if r.status >= 400:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            done_at[i] = time.perf_counter()

        watcher = asyncio.ensure_future(watch())
        start = time.perf_counter() + 0.5
        for i in range(total):
            scheduled_at[i] = start + i / rate
        if eager:
            await asyncio.gather(*(one(i) for i in range(total)))
        else:
            tasks = set()
            for i in range(total):
                delay = scheduled_at[i] - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.ensure_future(one(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        stop.set()
        await watcher
    return scheduled_at, sent_at, done_at, lags, errors


def _open_figures(
    scheduled_at: list[float],
    sent_at: list[float],
    done_at: list[float],
    lags: list[tuple[float, float]],
    disk: list[tuple[float, dict]],
    errors: int,
    seconds: float,
    timeline: bool,
) -> dict:
    total = len(scheduled_at)
    start = scheduled_at[0] if total else 0.0
    latencies = [done - sched for done, sched in zip(done_at, scheduled_at)]
    late = [sent - sched for sent, sched in zip(sent_at, scheduled_at)]
    if not latencies:
        return {"requests": 0, "errors": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    if timeline:
        print(
            "  window   p50 ms   p99 ms   max ms | send_late p99 ms | loop lag max ms | MB: coachbox.db-wal queue.db queue.db-wal cache"
        )
        window = 5.0
        for w in range(int((seconds + window - 1e-9) // window)):
            lo, hi = start + w * window, start + (w + 1) * window
            idx = [i for i in range(total) if lo <= scheduled_at[i] < hi]
            lat = [latencies[i] * 1000 for i in idx]
            lag = [x * 1000 for t, x in lags if lo <= t < hi]
            sizes = next((d for t, d in reversed(disk) if t < hi), {})
            print(
                f"  {w * window:3.0f}-{(w + 1) * window:3.0f}s {_pct(lat, 0.5):8.1f} {_pct(lat, 0.99):8.1f} {max(lat, default=0):8.1f}"
                f" | {_pct([late[i] * 1000 for i in idx], 0.99):16.1f} | {max(lag, default=0):15.1f} | "
                + " ".join(f"{v:.1f}" for v in sizes.values())
            )
    return {
        "requests": total,
        "errors": errors,
        "p50_ms": _pct(latencies, 0.5) * 1000,
        "p99_ms": _pct(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "send_late_p99_ms": _pct(late, 0.99) * 1000,
        "send_late_max_ms": max(late) * 1000,
        "loop_lag_max_ms": max((x for _, x in lags), default=0.0) * 1000,
    }


async def _reply_latency(port: int, rate: float, seconds: float) -> dict[str, float]:
    """Open loop of new learners saying "hi" at `rate`/s: when each webhook was sent (time.time()), by phone."""
    import aiohttp

    base = PUBLIC.format(port=port)
    total = int(rate * seconds)
    forms = [_form(500_000 + n, "5") for n in range(total)]
    for n, form in enumerate(forms):  # a phone of its own per message: its first reply is this message's
        phone = f"+2549{n:08d}"
        form.update({"From": f"whatsapp:{phone}", "WaId": phone[1:]})
    prepared = [(form["From"], *_signed(base + "/webhooks/twilio", form)) for form in forms]
    sent_at: dict[str, float] = {}
    errors = 0
    async with aiohttp.ClientSession() as session:

        async def one(to: str, body: str, sig: str) -> None:
            nonlocal errors
            sent_at[to] = time.time()
            async with session.post(
                base + "/webhooks/twilio",
                data=body,
                headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
            ) as r:
                await r.read()
                errors += r.status != 200

        start, tasks = time.perf_counter() + 0.2, set()
        for i, item in enumerate(prepared):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            task = asyncio.ensure_future(one(*item))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
    if errors:
        raise SystemExit(f"reply latency run: {errors} webhooks were not answered 200")
    return sent_at


def _settle(db: Path, expected: int, limit: float = 600.0) -> float:
    """Seconds until every kept message has had its turn and nothing waits to be sent."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        conn = sqlite3.connect(db)
        try:
            kept = conn.execute("SELECT COUNT(*) FROM inbound_queue WHERE failed_at IS NULL").fetchone()[0]
            stored = conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0]
            pending = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status IN ('queued', 'retry', 'sending')"
            ).fetchone()[0]
        finally:
            conn.close()
        if kept == 0 and pending == 0 and stored >= expected:
            return time.perf_counter() - started
        time.sleep(0.5)
    print(f"  not settled after {limit:.0f} s: {kept} kept, {stored} of {expected} stored, {pending} replies to send")
    return float("inf")


def _reply_lateness(db: Path, sid_prefix: str) -> list[float]:
    """Milliseconds from each message's arrival (its row's received time) to its first reply's send, for the inbound
    messages whose MessageSid starts with sid_prefix: how late replies were, kept messages included."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            """SELECT (julianday(o.sent_at) - julianday(i.created_at)) * 86400000 FROM messages i
               JOIN messages o ON o.idempotency_key = i.idempotency_key || ':out:0'
               WHERE i.direction = 'in' AND i.provider_sid LIKE ? AND o.sent_at IS NOT NULL""",
            (sid_prefix + "%",),
        ).fetchall()
    finally:
        conn.close()
    return sorted(row[0] for row in rows)


def _first_replies(double: subprocess.Popen, path: Path, wanted: set[str], timeout: float = 30.0) -> dict[str, float]:
    """When the double accepted the first reply to each address in `wanted` (waits until all have one)."""
    deadline = time.monotonic() + timeout
    while True:
        double.stdin.write(f"dump {path}\n")
        double.stdin.flush()
        double.stdout.readline()
        first: dict[str, float] = {}
        for to, at in json.loads(path.read_text()):
            if to in wanted and to not in first:
                first[to] = at
        if len(first) == len(wanted) or time.monotonic() > deadline:
            return first
        time.sleep(0.5)


async def _replays(port: int, count: int) -> None:
    import aiohttp

    base = PUBLIC.format(port=port)
    async with aiohttp.ClientSession() as session:

        async def post(form: dict) -> int:
            body, sig = _signed(base + "/webhooks/twilio", form)
            async with session.post(
                base + "/webhooks/twilio",
                data=body,
                headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
            ) as r:
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
    parser.add_argument(
        "--no-ceiling",
        dest="ceiling",
        action="store_false",
        help="skip the run of coachbox's web layer with a no-op turn",
    )
    parser.add_argument("--reply-rate", type=float, default=50, help="inbound/s for the reply-latency run")
    parser.add_argument("--reply-seconds", type=float, default=20)
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print the open loop's p50/p99 per 5 s window, the "
        "generator's own lateness and loop lag, and the size of queue.db, the WALs and the cache",
    )
    parser.add_argument(
        "--generator",
        choices=("raw", "aiohttp", "eager"),
        default="raw",
        help="the open loop's generator: raw (bench/open_loop.py, ~0.05 ms a request), aiohttp (the one used until "
        "the seventh stop of issue #15, ~0.3 ms a request), eager (that one as first written: every coroutine and "
        "HMAC made at the start, to reproduce its artefact)",
    )
    parser.add_argument("--workers", type=int, default=1, help="[server] workers for coachbox")
    parser.add_argument(
        "--messages-per-second",
        type=int,
        default=1000,
        help="[twilio] messages_per_second for the reply sender (production: at most 80)",
    )
    parser.add_argument("--no-meta", dest="meta", action="store_false", help="skip the Meta Cloud API webhook line")
    parser.add_argument(
        "--py-spy",
        metavar="OUT",
        help="record the coachbox server with py-spy during its wrk run "
        "(collapsed stacks to OUT; needs `pip install py-spy`, not a project dependency)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk")
    double = subprocess.Popen(
        [sys.executable, "-c", DOUBLE], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    double_url = double.stdout.readline().strip()
    procs = [double]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            port, bare_port = 18431, 18432
            env = {
                "COACHBOX_PATHS_DATA_DIR": str(tmp / "data"),
                "COACHBOX_LOG_LEVEL": "ERROR",
                "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "COACHBOX_TWILIO_API_BASE_URL": double_url,
                "COACHBOX_TWILIO_MESSAGES_PER_SECOND": str(args.messages_per_second),
                "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
                "COACHBOX_SERVER_PUBLIC_URL": PUBLIC.format(port=port),
                "COACHBOX_SERVER_PORT": str(port),
                "COACHBOX_SERVER_HOST": "127.0.0.1",
                "COACHBOX_SERVER_WORKERS": str(args.workers),
                "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
                "PATH": "/usr/bin:/bin",
            }
            server = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL
            )
            bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)], cwd=REPO, stdout=subprocess.DEVNULL)
            procs += [server, bare]
            _wait(port), _wait(bare_port)
            # First, on the fresh server: later phases leave thousands of replies queued behind the sender's cap.
            reply_missed: list[str] = []
            sent_at = asyncio.run(_reply_latency(port, args.reply_rate, args.reply_seconds))
            first = _first_replies(double, tmp / "accepted.json", set(sent_at))
            waits = [(first[to] - sent) * 1000 for to, sent in sent_at.items() if to in first]
            print(
                f"reply latency at {args.reply_rate:.0f} inbound/s for {args.reply_seconds:.0f} s (new learners, sender cap "
                f"{args.messages_per_second}/s): webhook sent -> reply accepted by the double p50 {_pct(waits, 0.5):.0f} ms, "
                f"p95 {_pct(waits, 0.95):.0f} ms, max {max(waits, default=0):.0f} ms; {len(sent_at) - len(first)} unanswered"
            )
            if len(first) < len(sent_at) or _pct(waits, 0.95) >= 1000:
                reply_missed.append(
                    f"reply latency p95 {_pct(waits, 0.95):.0f} ms, {len(sent_at) - len(first)} unanswered "
                    "(target p95 < 1 s, none)"
                )
            script = tmp / "inbound.lua"
            _lua(script, PUBLIC.format(port=port) + "/webhooks/twilio", 20000, "1")
            bare_script = tmp / "bare.lua"
            _lua(bare_script, PUBLIC.format(port=bare_port) + "/webhooks/twilio", 2000, "2")
            bare_rps, _ = _wrk(bare_port, bare_script, args.seconds, replays_ok=True)  # nothing de-duplicated there
            ceiling_rps = None
            if args.ceiling:
                ceiling_port = 18433
                ceiling_env = {
                    **env,
                    "COACHBOX_PATHS_DATA_DIR": str(tmp / "noturn"),
                    "COACHBOX_SERVER_PUBLIC_URL": PUBLIC.format(port=ceiling_port),
                    "COACHBOX_SERVER_PORT": str(ceiling_port),
                }
                ceiling = subprocess.Popen(
                    [sys.executable, "-c", NO_TURN], cwd=REPO, env=ceiling_env, stdout=subprocess.DEVNULL
                )
                procs.append(ceiling)
                _wait(ceiling_port)
                ceiling_script = tmp / "noturn.lua"
                _lua(ceiling_script, PUBLIC.format(port=ceiling_port) + "/webhooks/twilio", 2000, "3")
                ceiling_rps, _ = _wrk(ceiling_port, ceiling_script, args.seconds, replays_ok=True)
                ceiling.terminate()
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--subprocesses",
                        "--gil",
                        "--format",
                        "raw",
                        "-r",
                        "200",
                        "-d",
                        str(args.seconds),
                        "-o",
                        args.py_spy,
                        "-p",
                        str(server.pid),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            cpu_before, wall = _cpu_seconds(server.pid), time.perf_counter()
            full_rps, full_out = _wrk(port, script, args.seconds)
            cpu, wall = _cpu_seconds(server.pid) - cpu_before, time.perf_counter() - wall
            cpu_ms = cpu / (full_rps * wall) * 1000
            if spy is not None:
                spy.wait(timeout=30)
            print(
                f"bare Sanic form POST: {bare_rps:.0f} req/s; coachbox webhook, {args.workers} worker(s) (signature + de-dup + engine + "
                f"outbox), sender cap {args.messages_per_second}/s: {full_rps:.0f} req/s; ratio {full_rps / bare_rps * 100:.1f}%"
            )
            if ceiling_rps is not None:
                print(
                    f"  ceiling: coachbox's web layer with a no-op turn (signature, form, middleware): {ceiling_rps:.0f} "
                    f"req/s = {ceiling_rps / bare_rps * 100:.1f}% of bare Sanic; the full turn keeps "
                    f"{full_rps / ceiling_rps * 100:.1f}% of that"
                )
            print(
                f"  coachbox used {cpu / wall * 100:.0f}% of a core: {cpu_ms:.2f} ms CPU per webhook "
                f"(server processes, including its reply sender)"
            )
            print("  (wrk cycles 20,000 signed messages: later rounds are replays, answered by de-dup)")
            if args.meta:
                _meta_line(tmp, env, args.seconds, bare_rps, procs)
            # The open loop's replies must not queue behind the closed loops' (thousands, behind the sender's cap).
            _settle(tmp / "data" / "coachbox.db", 0, limit=300)
            result = _open_loop(
                port,
                args.open_rate,
                args.open_seconds,
                100_000,
                data_dir=tmp / "data",
                timeline=args.timeline,
                generator=args.generator,
            )
            print(
                f"open loop {args.open_rate:.0f} req/s for {args.open_seconds:.0f} s (1 inbound : 3 status): "
                + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()})
            )
            missed = reply_missed
            # How late the open loop's replies were (kept messages' included): a worker that keeps messages must
            # catch up while the load lasts, not only after it (issue #15, eighth stop: 1-8 s at p95, and growing).
            _settle(tmp / "data" / "coachbox.db", 0, limit=300)
            lateness = _reply_lateness(tmp / "data" / "coachbox.db", "SM9")
            print(
                f"  its replies: {len(lateness)} of {int(args.open_rate * args.open_seconds) // 4} sent; webhook -> reply "
                f"sent p50 {_pct(lateness, 0.5):.0f} ms, p95 {_pct(lateness, 0.95):.0f} ms, "
                f"max {max(lateness, default=0):.0f} ms"
            )
            if _pct(lateness, 0.95) >= 1000:
                missed.append(f"open loop replies p95 {_pct(lateness, 0.95):.0f} ms (target < 1 s, as at 50 inbound/s)")
            # Issue #15's ">= 30 % of bare Sanic" is for acknowledgements (bench/message_cpu_bench.py): this closed
            # loop of whole turns is a different figure, and used to be checked against it by mistake.
            if result["errors"] or result["p99_ms"] >= 50:
                missed.append(f"open loop p99 {result['p99_ms']:.0f} ms, {result['errors']} errors (target < 50 ms, 0)")
            asyncio.run(_replays(port, args.replays))
            # A replay answered 200 may have been kept in inbound_queue (turns still lag after the open loop): its
            # turn runs soon after. Count once every kept message has had its turn.
            conn = sqlite3.connect(tmp / "data" / "coachbox.db")
            deadline = time.monotonic() + 120
            while conn.execute("SELECT COUNT(*) FROM inbound_queue").fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.5)
            inbound = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE direction='in' AND provider_sid LIKE 'SM7%'"
            ).fetchone()[0]
            # Replies are keyed by the inbound MessageSid (idempotency key "in:whatsapp:<sid>:out:<n>").
            answered = conn.execute(
                "SELECT COUNT(DISTINCT substr(idempotency_key, 1, 46)) FROM messages "
                "WHERE direction = 'out' AND idempotency_key LIKE 'in:whatsapp:SM7%:out:0'"
            ).fetchone()[0]
            print(
                f"replays: {args.replays} MessageSids x5 (2 sequential + 3 concurrent) -> {inbound} stored inbound rows, "
                f"{answered} answered once each"
            )
            if inbound != args.replays or answered != args.replays:
                raise SystemExit("FAILED: every replayed MessageSid must be stored and answered exactly once")
            if missed:
                print("target missed: " + "; ".join(missed))
                raise SystemExit(1)
    finally:
        for proc in procs:
            if proc.stdin is not None:  # the doubles stop when their stdin closes
                proc.stdin.close()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
