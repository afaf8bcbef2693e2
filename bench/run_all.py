"""Run every benchmark in bench/ (*_bench.py and bench_*.py) in turn; `--quick` is passed to those that accept it.

Run: .venv/bin/python bench/run_all.py [--quick]   (or `make bench`). Figures are collected in docs/performance.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    found = set(BENCH.glob("*_bench.py")) | set(BENCH.glob("bench_*.py"))
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    args = parser.parse_args()
    failed = []
    for script in scripts():
        argv = [sys.executable, str(script)]
        if args.quick and "--quick" in script.read_text(encoding="utf-8"):
            argv.append("--quick")
        print(f"== {script.name} {' '.join(argv[2:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(argv, cwd=BENCH.parent)
        print(f"== {script.name}: exit {code} after {time.perf_counter() - started:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"missed targets or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
