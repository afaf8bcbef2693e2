"""Password figures: ms per sign-in check with the old scrypt (N=2^14) hash against today's argon2id, and zxcvbn.

Run: .venv/bin/python bench/password_bench.py [--count 30] [--quick]
Prints one JSON object per line; exits 1 when the target is missed. Target (issue 18): an argon2id verify
(what each sign-in costs) under 150 ms at p95, and the strength check under 100 ms at p95 for the longest input
zxcvbn is given (passwords.STRENGTH_CHARS). The baseline is the scrypt N=2^14, r=8, p=1 verify coachbox used
before, measured in the same run; argon2-cffi's RFC 9106 low-memory profile is shown for comparison.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher  # noqa: E402
from argon2.profiles import RFC_9106_LOW_MEMORY  # noqa: E402

from coachbox.admin import passwords  # noqa: E402

PASSWORD = "violet tractor under marmalade"


def _scrypt_hash(password: str) -> str:
    """The format coachbox wrote before argon2id (passwords._verify_scrypt still reads it)."""
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$16384$8$1$" + "$".join(base64.b64encode(x).decode().rstrip("=") for x in (salt, key))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _time(name: str, fn: Callable[[], object], count: int, **extra: object) -> dict:
    fn()  # warm-up
    ms = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - started) * 1000)
    return {
        "bench": name,
        "count": count,
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(_percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
        **extra,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 rounds")
    args = parser.parse_args()
    count = 10 if args.quick else args.count

    old = _scrypt_hash(PASSWORD)
    new = passwords.hash_password(PASSWORD)
    rfc = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
    rfc_hash = rfc.hash(PASSWORD)
    assert passwords.verify_password(PASSWORD, old) and passwords.verify_password(PASSWORD, new)
    results = [
        _time(
            "verify scrypt N=2^14 r=8 p=1 (baseline: before)", lambda: passwords.verify_password(PASSWORD, old), count
        ),
        _time("verify argon2id m=19 MiB t=2 p=1 (OWASP: now)", lambda: passwords.verify_password(PASSWORD, new), count),
        _time("verify argon2id m=64 MiB t=3 p=4 (RFC 9106 low-memory)", lambda: rfc.verify(rfc_hash, PASSWORD), count),
        _time("hash argon2id m=19 MiB t=2 p=1 (set a password)", lambda: passwords.hash_password(PASSWORD), count),
    ]
    rng = random.Random(18)
    for length in (12, 30, passwords.STRENGTH_CHARS, 10_000):
        typed = "".join(rng.choice(string.ascii_letters + string.digits + " ") for _ in range(length))
        results.append(
            _time(
                f"strength check, {length} characters",
                lambda typed=typed: passwords.password_problem(typed, ("owner@school.test", "Coachbox Academy")),
                count,
                judged_chars=min(length, passwords.STRENGTH_CHARS),
            )
        )
    for result in results:
        print(json.dumps(result), flush=True)
    verify = results[1]["p95_ms"]
    strength = max(r["p95_ms"] for r in results if r["bench"].startswith("strength"))
    met = verify < 150 and strength < 100
    print(json.dumps({"bench": "target", "argon2id_verify_p95_ms": verify, "strength_p95_ms": strength, "met": met}))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
