"""Admin passwords: argon2id hashes (older scrypt ones still verify, then get upgraded) and the strength check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id minimum (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane. Chosen over argon2-cffi's
# RFC 9106 low-memory profile (64 MiB, t=3, p=4) because this box runs on small VPSs and Raspberry Pis where a
# burst of sign-ins hashes in parallel threads: 19 MiB each keeps that in bounds, and one lane means the cost
# does not depend on the cores free. Figures: bench/password_bench.py, docs/performance.md "## Passwords".
MEMORY_KIB, TIME_COST, PARALLELISM = 19 * 1024, 2, 1
HASHER = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, hash_len=32, salt_len=16, type=Type.ID
)
# Verified for unknown emails so a wrong email costs as much as a wrong password (same parameters as HASHER;
# tests/admin/test_passwords.py checks they agree). Its password is not known to anyone.
DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$AAAY/365Yjnb7IQ9L72n3g$t3kngNto9O78g/VqUgZt0mAcj8W6uZ5laM5c7V7jBqg"

MIN_LENGTH = 10
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline slow-hash attacks"
# zxcvbn's time grows fast with length (~40 ms at 72 characters, ~1 s at 200 on the dev box): it sees at most
# this many characters, its own default limit. Longer passwords are allowed; their first 72 characters are judged.
STRENGTH_CHARS = 72
# zxcvbn keeps the user inputs in a module-level dictionary while it runs: one check at a time.
_ZXCVBN_LOCK = threading.Lock()


def hash_password(password: str) -> str:
    """An argon2id hash in the PHC format ('$argon2id$v=19$m=…,t=…,p=…$salt$hash'): parameters travel with it."""
    return HASHER.hash(password)


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _verify_scrypt(password: str, stored: str) -> bool:
    """The hashes made before argon2id: 'scrypt$n$r$p$salt$key' (N=2^14, r=8, p=1)."""
    try:
        _scheme, n, r, p, salt, key = stored.split("$")
        expected = _unb64(key)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; False for an empty or malformed stored hash (an account with no password yet)."""
    if not stored:
        return False
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str | None) -> bool:
    """True for a hash to replace at the next successful sign-in: scrypt, or argon2 with other parameters."""
    if not stored:
        return False
    if stored.startswith("scrypt$"):
        return True
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return False


def password_problem(password: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why a new password is refused (a sentence for the form), or None. Takes ~1–60 ms: call it off the event
    loop. `user_inputs` (email, name, the school's name) count as guessable words."""
    if len(password) < MIN_LENGTH:
        return f"The password needs at least {MIN_LENGTH} characters."
    words: list[str] = []
    for value in user_inputs:
        if value:
            words.append(value)
            words.extend(part for part in value.replace("@", " ").replace(".", " ").split() if len(part) > 2)
    from zxcvbn import zxcvbn  # lazy: its word lists take ~13 MB in every process; only a password change needs them

    with _ZXCVBN_LOCK:
        result = zxcvbn(password[:STRENGTH_CHARS], user_inputs=words)
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    reasons = [feedback.get("warning") or "It is too easy to guess."]
    reasons += feedback.get("suggestions") or []
    if not feedback.get("suggestions"):
        reasons.append("Add another word or two. Uncommon words are better.")
    return "The password is too easy to guess. " + " ".join(r.rstrip(".") + "." for r in reasons if r)
