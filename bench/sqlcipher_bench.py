"""SQLCipher evaluation (issue 18): plain SQLite vs SQLCipher-encrypted, in the same run, interleaved.

Prints, as one JSON object per line:
  - micro: connection open (stdlib, sqlcipher3 plain, raw key, passphrase: PBKDF2 256,000 iterations), one-row
    commit, indexed point read on a 200,000-row table (~4x the page cache, so pages are decrypted as they are
    read), each for stdlib sqlite3 (3.40.1 here), sqlcipher3 without a key (isolates its newer bundled SQLite)
    and sqlcipher3 with a raw 256-bit key;
  - webhooks: coachbox as `coachbox run` serves it (bench/webhook_bench.py's SERVER, wrk -t2 -c32, the same
    signed inbound messages), req/s, wrk p50/p99 and server CPU ms per request, coachbox.db plain vs encrypted;
  - fan-out: bench/fanout_bench.py (100,000 learners by default) with coachbox.db plain vs encrypted.
The webhook and fan-out runs have three modes: plain (stdlib sqlite3), "sqlcipher3 no key" (sqlcipher3's own
SQLite build, unencrypted: what the library costs before any encryption) and encrypted. Every measurement is repeated
`--repeat` times (default 3), the modes alternating, and the summary gives median, min and max, the throughput loss
of the medians against plain, and the loss of each back-to-back plain/encrypted pair (the spread).

    .venv/bin/python bench/sqlcipher_bench.py [--repeat 3] [--seconds 10] [--scale 1.0] [--only micro,webhook,fanout]
                                              [--files coachbox.db | --files '*']   (* = queue.db too)

Encryption is switched on without changing coachbox: bench/sqlcipher_shim/sitecustomize.py, on PYTHONPATH with
SQLCIPHER_EVAL_KEY set, makes `import sqlite3` give sqlcipher3 and keys every connection to coachbox.db. Needs
`pip install sqlcipher3-binary` and wrk. The issue's bar: webhook and fan-out lose at most 30 %; exits 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

RAW_KEY = "5f" * 32  # 256-bit raw key: SQLCipher skips PBKDF2 (what an option reading a key file would pass)
PASSPHRASE = "correct horse battery staple"
PRAGMAS = (  # coachbox.store.PRAGMA_SQL
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA wal_autocheckpoint=0",
)


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


# ---- micro -----------------------------------------------------------------------------------------------------


def _opener(kind: str) -> Callable[[str], object]:
    if kind == "stdlib":
        return lambda path: sqlite3.connect(path, isolation_level=None)
    import sqlcipher3  # lazy: only this bench needs it (pip install sqlcipher3-binary)

    def open_(path: str):
        conn = sqlcipher3.connect(path, isolation_level=None)
        if kind == "raw key":
            conn.execute(f"PRAGMA key = \"x'{RAW_KEY}'\"")
        elif kind == "passphrase":
            conn.execute(f"PRAGMA key = '{PASSPHRASE}'")
        return conn

    return open_


def _micro_once(kind: str, folder: Path, rows: int, commits: int, reads: int) -> dict[str, float]:
    path = str(folder / f"{kind.replace(' ', '_')}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    open_ = _opener(kind)
    conn = open_(path)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute("CREATE TABLE learners (id INTEGER PRIMARY KEY, phone TEXT NOT NULL, name TEXT, state TEXT)")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO learners (phone, name, state) VALUES (?, ?, ?)",
        ((f"+2547{n:08d}", f"Learner {n}", "x" * 120) for n in range(rows)),
    )
    conn.execute("COMMIT")
    conn.execute("CREATE UNIQUE INDEX learners_phone ON learners (phone)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    t0 = time.perf_counter()
    for _ in range(20):
        c = open_(path)
        c.execute("SELECT 1 FROM learners LIMIT 1").fetchone()
        c.close()
    open_ms = (time.perf_counter() - t0) / 20 * 1000

    conn = open_(path)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    t0 = time.perf_counter()
    for n in range(commits):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE learners SET state = ? WHERE id = ?", (f"s{n}", n * 37 % rows + 1))
        conn.execute("COMMIT")
    commit_us = (time.perf_counter() - t0) / commits * 1e6

    rng = random.Random(18)
    phones = [f"+2547{rng.randrange(rows):08d}" for _ in range(reads)]
    t0 = time.perf_counter()
    for phone in phones:
        conn.execute("SELECT id, name, state FROM learners WHERE phone = ?", (phone,)).fetchone()
    read_us = (time.perf_counter() - t0) / reads * 1e6
    conn.close()
    return {"open_ms": open_ms, "commit_us": commit_us, "read_us": read_us}


def micro(repeat: int, rows: int, commits: int, reads: int) -> None:
    kinds = ["stdlib", "sqlcipher3 no key", "raw key", "passphrase"]
    results: dict[str, dict[str, list[float]]] = {k: {} for k in kinds}
    with tempfile.TemporaryDirectory(prefix="coachbox-sqlcipher-") as tmp:
        for _ in range(repeat):
            for kind in kinds:
                if kind == "passphrase":  # only the open differs from a raw key: skip the rest, it is slow
                    open_ = _opener(kind)
                    path = str(Path(tmp) / "pass.db")
                    c = open_(path)
                    c.execute("CREATE TABLE IF NOT EXISTS t (x)")
                    c.close()
                    t0 = time.perf_counter()
                    for _ in range(5):
                        c = open_(path)
                        c.execute("SELECT 1 FROM t LIMIT 1").fetchone()
                        c.close()
                    once = {"open_ms": (time.perf_counter() - t0) / 5 * 1000}
                else:
                    once = _micro_once(kind, Path(tmp), rows, commits, reads)
                for name, value in once.items():
                    results[kind].setdefault(name, []).append(value)
    import sqlcipher3  # lazy: only this bench needs it

    versions = {
        "stdlib": sqlite3.sqlite_version,
        "sqlcipher3": sqlcipher3.sqlite_version,
        "cipher": sqlcipher3.connect(":memory:").execute("PRAGMA cipher_version").fetchone()[0],
    }
    _emit({"bench": "sqlcipher", "what": "versions", **versions})
    for kind in kinds:
        for name, values in results[kind].items():
            _emit({"bench": "sqlcipher", "what": f"micro {name}", "kind": kind, **_summary(values)})
    for name in ("commit_us", "read_us", "open_ms"):
        plain = statistics.median(results["stdlib"][name])
        enc = statistics.median(results["raw key"][name])
        _emit({"bench": "sqlcipher", "what": f"micro {name}: raw key / stdlib", "ratio": round(enc / plain, 2)})


# ---- webhooks and fan-out ------------------------------------------------------------------------------------------


MODES = ("plain", "sqlcipher3 no key", "encrypted")  # stdlib sqlite3; sqlcipher3's own SQLite build; with a key


def _environ(mode: str) -> dict[str, str]:
    if mode == "plain":
        return {}
    key = RAW_KEY if mode == "encrypted" else "none"
    return {"PYTHONPATH": str(BENCH / "sqlcipher_shim"), "SQLCIPHER_EVAL_KEY": key, "SQLCIPHER_EVAL_FILES": FILES[0]}


FILES = ["coachbox.db"]  # --files: which databases the shim encrypts


def _webhook_once(mode: str, seconds: int, double_url: str) -> dict[str, float]:
    import webhook_bench as wb  # lazy: pulls in twilio's validator and the test doubles

    with tempfile.TemporaryDirectory(prefix="coachbox-sqlcipher-web-") as tmp:
        port = 18441
        env = {
            "COACHBOX_PATHS_DATA_DIR": str(Path(tmp) / "data"),
            "COACHBOX_LOG_LEVEL": "ERROR",
            "COACHBOX_TWILIO_ACCOUNT_SID": wb.ACCOUNT_SID,
            "COACHBOX_TWILIO_AUTH_TOKEN": wb.AUTH_TOKEN,
            "COACHBOX_TWILIO_API_BASE_URL": double_url,
            "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "COACHBOX_SERVER_PUBLIC_URL": wb.PUBLIC.format(port=port),
            "COACHBOX_SERVER_PORT": str(port),
            "COACHBOX_SERVER_HOST": "127.0.0.1",
            "COACHBOX_SERVER_WORKERS": "1",
            "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
            "PATH": "/usr/bin:/bin",
            **_environ(mode),
        }
        server = subprocess.Popen(
            [sys.executable, "-c", wb.SERVER, str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL
        )
        try:
            wb._wait(port)
            script = Path(tmp) / "hook.lua"
            url = wb.PUBLIC.format(port=port) + "/webhooks/twilio"
            wb._lua(Path(tmp) / "warm.lua", url, 2000, "W")
            wb._wrk(port, Path(tmp) / "warm.lua", 2)
            wb._lua(script, url, 20000, mode[0].upper())
            cpu0 = wb._cpu_seconds(server.pid)
            rps, out = wb._wrk(port, script, seconds)
            cpu = wb._cpu_seconds(server.pid) - cpu0
            header = (Path(tmp) / "data" / "coachbox.db").read_bytes()[:16]
        finally:
            server.terminate()
            server.wait(30)
    if (header == b"SQLite format 3\x00") == (mode == "encrypted"):
        raise SystemExit(f"coachbox.db in mode {mode!r}: the shim did not apply as it should")
    latency = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            latency[parts[0]] = _wrk_ms(parts[1])
    return {
        "rps": rps,
        "p50_ms": latency.get("50%", 0.0),
        "p99_ms": latency.get("99%", 0.0),
        "cpu_ms_per_request": cpu / max(1.0, rps * seconds) * 1000,
    }


def _wrk_ms(value: str) -> float:
    """wrk's latency text (`812.00us`, `3.21ms`, `1.02s`) in milliseconds."""
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


def webhooks(repeat: int, seconds: int) -> dict[str, float]:
    import webhook_bench as wb  # lazy: see _webhook_once

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    double = subprocess.Popen(
        [sys.executable, "-c", wb.DOUBLE], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        double_url = double.stdout.readline().strip()  # type: ignore[union-attr]
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(repeat):
            for mode in MODES:
                runs[mode].append(_webhook_once(mode, seconds, double_url))
    finally:
        double.kill()
        double.wait()
    return _report("webhook", runs, "rps", higher_is_better=True)


def _fanout_once(mode: str, scale: float) -> dict[str, float]:
    env = {**os.environ, **_environ(mode)}
    out = subprocess.run(
        [sys.executable, str(BENCH / "fanout_bench.py"), "--scale", str(scale)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    figures = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    fan = next(f for f in figures if f["what"].startswith("daily-lesson fan-out"))
    turns = next(f for f in figures if f["what"].startswith("learner turns"))
    seed = next(f for f in figures if f["what"] == "seed learners")
    return {
        "seconds": fan["seconds"],
        "cpu_seconds": fan["cpu_seconds"],
        "turn_p99_ms": turns["p99_ms"],
        "seed_seconds": seed["seconds"],
    }


def fanout(repeat: int, scale: float) -> dict[str, float]:
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(repeat):
        for mode in MODES:
            runs[mode].append(_fanout_once(mode, scale))
    return _report("fanout", runs, "seconds", higher_is_better=False)


def _report(bench: str, runs: dict[str, list[dict[str, float]]], main: str, *, higher_is_better: bool) -> dict:
    """Per figure and mode: median, min, max. The loss is in throughput (req/s, or learners/s = 1/seconds)."""
    for mode, mode_runs in runs.items():
        for name in mode_runs[0]:
            values = [run[name] for run in mode_runs]
            _emit({"bench": f"sqlcipher {bench}", "what": name, "mode": mode, **_summary(values)})

    def throughput(mode: str) -> list[float]:
        return [run[main] if higher_is_better else 1.0 / run[main] for run in runs[mode]]

    plain = statistics.median(throughput("plain"))
    verdict: dict = {"bench": f"sqlcipher {bench}", "what": f"throughput loss vs plain ({main}, medians)"}
    for mode in MODES[1:]:
        verdict[f"{mode} loss_pct"] = round((1 - statistics.median(throughput(mode)) / plain) * 100, 1)
    # Pairs measured back to back: the spread the shared machine gives the same comparison.
    pairs = [1 - enc / base for base, enc in zip(throughput("plain"), throughput("encrypted"))]
    verdict["encrypted pairwise loss_pct"] = [round(p * 100, 1) for p in pairs]
    verdict["ok"] = verdict["encrypted loss_pct"] <= 30.0
    _emit(verdict)
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per webhook run")
    parser.add_argument("--scale", type=float, default=1.0, help="fan-out: fraction of 100,000 learners")
    parser.add_argument("--quick", action="store_true", help="one repeat, 3 s wrk runs, 5,000 learners")
    parser.add_argument("--only", default="micro,webhook,fanout")
    parser.add_argument("--files", default="coachbox.db", help="databases to encrypt: coachbox.db, or * (not cache.db)")
    args = parser.parse_args()
    FILES[0] = args.files
    try:
        import sqlcipher3  # noqa: F401 - lazy: only whether it is installed (it is no dependency of coachbox)
    except ImportError:
        _emit({"bench": "sqlcipher", "skipped": "sqlcipher3 is not installed: .venv/bin/pip install sqlcipher3-binary"})
        return 0
    if args.quick:
        args.repeat, args.seconds, args.scale = 1, 3, 0.05
    only = set(args.only.split(","))
    verdicts = []
    if "micro" in only:
        micro(args.repeat, rows=200_000, commits=2000, reads=20_000)
    if "webhook" in only:
        verdicts.append(webhooks(args.repeat, args.seconds))
    if "fanout" in only:
        verdicts.append(fanout(args.repeat, args.scale))
    return 0 if all(v["ok"] for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
