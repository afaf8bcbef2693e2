"""Start-up figures: `coachbox run` from spawn to a healthy /healthz, and idle memory of web + worker together.

Run: .venv/bin/python bench/startup_bench.py [--runs 3] [--quick]
Prints one JSON object per line. Targets (issue 2): healthy in < 3 s; idle RSS of the whole tree < 200 MB.
The baseline is a bare Sanic "hello" app started the same way (multi-process mode, one worker), measured in
the same run, so the difference is what coachbox itself adds. RSS counts shared pages once per process (an
over-estimate for a tree); PSS shares them out and is the fairer "together" figure, so both are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 3.0

HELLO = """
from sanic import Sanic
from sanic.response import json
app = Sanic("hello")
@app.get("/healthz")
async def healthz(request):
    return json({"status": "ok"})
if __name__ == "__main__":
    import sys
    app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=1, motd=False, access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tree(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [pid], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; zeros if it has gone."""
    try:
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        pss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            if line.startswith("Pss:")
        )
    except (OSError, StopIteration):
        return 0, 0
    return rss, pss


def _wait_healthy(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"server exited early ({process.returncode}): {process.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"no healthy /healthz on port {port} within {timeout} s")


def measure(argv: list[str], port: int, env: dict[str, str], cwd: Path) -> dict:
    spawned = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        _wait_healthy(port, process)
        healthy = time.perf_counter() - spawned
        time.sleep(IDLE_SECONDS)
        pids = _tree(process.pid)
        memory = [_memory_kb(pid) for pid in pids]
        stop_started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
        stopped = time.perf_counter() - stop_started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return {
        "healthy_s": round(healthy, 3),
        "processes": len(pids),
        "rss_mb": round(sum(m[0] for m in memory) / 1024, 1),
        "pss_mb": round(sum(m[1] for m in memory) / 1024, 1),
        "largest_rss_mb": round(max(m[0] for m in memory) / 1024, 1),
        "stop_s": round(stopped, 3),
        "exit": code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of each")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")}
    env.update({"COACHBOX_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    with tempfile.TemporaryDirectory(prefix="coachbox-startup-bench-") as tmp:
        root = Path(tmp)
        hello = root / "hello.py"
        hello.write_text(HELLO)
        results: dict[str, list[dict]] = {"baseline bare sanic": [], "coachbox first start": [], "coachbox start": []}
        for n in range(runs):
            port = _free_port()
            results["baseline bare sanic"].append(measure([sys.executable, str(hello), str(port)], port, env, root))
            data = root / f"data-{n}"
            for label in ("coachbox first start", "coachbox start"):  # an empty data/ (import + migrations), then again
                port = _free_port()
                argv = [
                    sys.executable,
                    "-m",
                    "coachbox",
                    "--config",
                    str(REPO / "coachbox.toml"),
                    "run",
                    "--port",
                    str(port),
                ]
                results[label].append(
                    measure(argv, port, {**env, "COACHBOX_PATHS_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}, REPO)
                )
        summary = {}
        for label, rows in results.items():
            median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
            summary[label] = median
            print(json.dumps({"step": label, "runs": len(rows), **median}), flush=True)
        ok = summary["coachbox start"]["healthy_s"] < 3 and summary["coachbox start"]["rss_mb"] < 200
        print(
            json.dumps(
                {
                    "step": "targets",
                    "healthy_target_s": 3,
                    "rss_target_mb": 200,
                    "ok": ok,
                    "extra_start_vs_bare_s": round(
                        summary["coachbox start"]["healthy_s"] - summary["baseline bare sanic"]["healthy_s"], 3
                    ),
                    "extra_rss_vs_bare_mb": round(
                        summary["coachbox start"]["rss_mb"] - summary["baseline bare sanic"]["rss_mb"], 1
                    ),
                }
            ),
            flush=True,
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
