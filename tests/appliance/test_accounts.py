"""Admin accounts: `coachbox init` / `admin add` / `admin reset` links, one-time tokens, argon2id passwords."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from coachbox.admin import accounts, passwords
from coachbox.admin.passwords import hash_password, verify_password
from coachbox.cli import main as cli
from coachbox.core.errors import UserError
from coachbox.store import secrets as box_secrets
from tests.conftest import clock_environ

LEGACY_SCRYPT = "scrypt$16384$8$1$"  # the hashes made before argon2id (hashlib.scrypt, N=2^14, r=8, p=1)


@pytest.fixture
def run_cli(settings, monkeypatch, capsys, tmp_path):
    """`coachbox …` in this process, on the test's data folder; returns (exit code, stdout)."""
    monkeypatch.setenv("COACHBOX_PATHS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COACHBOX_PATHS_CONTENT_DIR", str(tmp_path / "no-content"))  # content import has its own tests

    def run(*argv: str) -> tuple[int, str]:
        code = cli.main(["--config", str(Path(settings.root) / "coachbox.toml"), *argv])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def _token(output: str) -> str:
    return output.rsplit("token=", 1)[1].split()[0]


def test_it_prints_the_setup_link_once_and_keeps_only_its_hash(run_cli, settings, conn, monkeypatch, instant):
    for name, value in clock_environ(instant).items():
        monkeypatch.setenv(name, value)
    code, first = run_cli("init")
    token = _token(first)
    assert code == 0 and "/admin/setup?token=" in first
    # Expires 24 h later, said in the org's time zone (Africa/Nairobi: UTC+3), and how to get a new one.
    assert "until 2026-03-03 08:00 (Africa/Nairobi)" in first and "`coachbox admin reset`" in first
    stored = conn.execute("SELECT value FROM box_state WHERE key = 'setup_token'").fetchone()[0]
    assert token not in stored  # only its SHA-256
    code, second = run_cli("init")  # a later start cannot show it again: it says until when it works
    assert code == 0 and "token=" not in second
    assert "works until 2026-03-03 08:00 (Africa/Nairobi)" in second and "`coachbox admin reset`" in second

    code, added = run_cli("admin", "add", "alice@school.org", "--role", "owner")
    assert code == 0 and f"{settings.server.public_url}/admin/reset?token=" in added
    code, third = run_cli("init")
    assert code == 0 and "token=" not in third and "first-run" not in third


def test_admin_reset_without_email_makes_a_new_setup_link_only_while_no_admin_exists(run_cli, conn, clock):
    _code, first = run_cli("init")
    code, renewed = run_cli("admin", "reset")
    assert code == 0 and "/admin/setup?token=" in renewed and "works once, until" in renewed
    # Only the newest link works.
    assert box_secrets.setup_token_state(conn, _token(first), clock.now()) == "unknown"
    assert box_secrets.setup_token_state(conn, _token(renewed), clock.now()) == "valid"

    run_cli("admin", "add", "alice@school.org", "--role", "owner")
    code, refused = run_cli("admin", "reset")
    assert code == 1 and "already has admins" in refused and "coachbox admin reset EMAIL" in refused
    assert "alice@school.org" in refused and "token=" not in refused


def test_the_setup_link_expires_after_24_hours(run_cli, conn, clock, settings):
    link = box_secrets.setup_link(conn, settings, clock.now())
    token = link.url.split("token=")[1]
    clock.advance(hours=23, minutes=59)
    assert box_secrets.setup_token_state(conn, token, clock.now()) == "valid"
    clock.advance(minutes=1)
    assert box_secrets.setup_token_state(conn, token, clock.now()) == "expired"
    assert accounts.create_first_owner(conn, token, "late@school.org", "a late passphrase", clock.now()) is None
    later = box_secrets.setup_link(conn, settings, clock.now())  # a restart does not renew it silently
    assert later.url is None
    assert "expired at" in box_secrets.describe_setup_link(later, settings, clock.now())


def test_an_old_plain_text_setup_token_is_replaced(conn, clock, settings):
    conn.execute("INSERT INTO box_state (key, value, updated_at) VALUES ('setup_token', 'oldtoken', '2026-01-01')")
    assert box_secrets.setup_token_state(conn, "oldtoken", clock.now()) == "unknown"
    link = box_secrets.setup_link(conn, settings, clock.now())
    assert link.url is not None and "oldtoken" not in link.url


def test_it_creates_the_first_owner_with_the_setup_link_once(run_cli, conn, clock):
    _code, output = run_cli("init")
    token = _token(output)
    assert accounts.create_first_owner(conn, "wrong", "alice@school.org", "long enough pw", clock.now()) is None
    owner = accounts.create_first_owner(conn, token, "alice@school.org", "long enough pw", clock.now())
    assert owner is not None
    assert accounts.create_first_owner(conn, token, "mallory@evil.org", "long enough pw", clock.now()) is None
    assert accounts.authenticate(conn, "alice@school.org", "long enough pw")["role"] == "owner"


def test_it_lets_an_added_admin_choose_a_password_exactly_once(run_cli, conn, clock):
    _code, output = run_cli("admin", "add", "bob@school.org", "--role", "editor")
    token = _token(output)
    assert accounts.token_admin(conn, token, clock.now())["email"] == "bob@school.org"
    assert accounts.authenticate(conn, "bob@school.org", "") is None  # no password until the link is used
    assert accounts.use_token(conn, token, "bobs new password", clock.now()) is not None
    assert accounts.use_token(conn, token, "mallorys password", clock.now()) is None
    assert accounts.authenticate(conn, "BOB@school.org", "bobs new password")["role"] == "editor"
    assert accounts.authenticate(conn, "bob@school.org", "mallorys password") is None


def test_it_makes_only_the_newest_reset_link_work(run_cli, conn, clock):
    run_cli("admin", "add", "charlie@school.org", "--role", "viewer")
    _code, first = run_cli("admin", "reset", "charlie@school.org")
    _code, second = run_cli("admin", "reset", "charlie@school.org")
    assert accounts.use_token(conn, _token(first), "first password!", clock.now()) is None
    assert accounts.use_token(conn, _token(second), "second password", clock.now()) is not None


def test_it_expires_links(run_cli, conn, clock):
    _code, output = run_cli("admin", "add", "dana@school.org")
    later = accounts._now() + accounts.TOKEN_TTL  # the CLI stamps links with the real time + timedelta(minutes=1)
    assert accounts.use_token(conn, _token(output), "too late password", later) is None


def test_it_explains_bad_admin_input(run_cli, conn, clock):
    assert run_cli("admin", "reset", "nobody@school.org") == (
        1,
        "coachbox: no admin nobody@school.org. `coachbox admin add nobody@school.org --role editor` creates one.\n",
    )
    assert run_cli("admin", "add", "not-an-email")[0] == 1
    run_cli("admin", "add", "erin@school.org")
    code, output = run_cli("admin", "add", "erin@school.org")
    assert code == 1 and "already exists" in output


def _scrypt(password: str) -> str:
    """A hash as coachbox made them before argon2id (the old passwords.hash_password)."""
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return LEGACY_SCRYPT + "$".join(base64.b64encode(part).decode().rstrip("=") for part in (salt, key))


def test_it_hashes_passwords_with_salted_argon2id():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", None) and not verify_password("x", "garbage")
    assert not passwords.needs_rehash(first)


def test_the_dummy_hash_for_unknown_accounts_is_argon2id_with_todays_parameters():
    assert passwords.DUMMY_HASH.startswith("$argon2id$") and not passwords.needs_rehash(passwords.DUMMY_HASH)


def test_it_upgrades_a_scrypt_hash_to_argon2id_at_the_next_sign_in(conn, clock):
    old = _scrypt("an old passphrase here")
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES ('old@school.org', ?, 'owner', ?)",
        (old, clock.now().isoformat()),
    )
    assert verify_password("an old passphrase here", old) and passwords.needs_rehash(old)
    assert accounts.authenticate(conn, "old@school.org", "not the passphrase") is None
    assert conn.execute("SELECT password_hash FROM admins").fetchone()[0] == old  # a failure changes nothing
    assert accounts.authenticate(conn, "old@school.org", "an old passphrase here") is not None
    upgraded = conn.execute("SELECT password_hash FROM admins").fetchone()[0]
    assert upgraded.startswith("$argon2id$") and verify_password("an old passphrase here", upgraded)
    assert accounts.authenticate(conn, "old@school.org", "an old passphrase here") is not None


def test_it_rehashes_argon2_hashes_made_with_other_parameters(conn, clock):
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a weaker old hash")
    assert passwords.needs_rehash(weaker)
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES ('w@school.org', ?, 'owner', ?)",
        (weaker, clock.now().isoformat()),
    )
    assert accounts.authenticate(conn, "w@school.org", "a weaker old hash") is not None
    assert not passwords.needs_rehash(conn.execute("SELECT password_hash FROM admins").fetchone()[0])


@pytest.mark.parametrize(
    ("password", "inputs", "why"),
    [
        ("aaaaaaaaaa", (), 'Repeats like "aaa" are easy to guess'),
        ("password123", (), "too easy to guess"),
        ("qwertyuiop", (), "too easy to guess"),
        ("alice@school.org", ("alice@school.org",), "too easy to guess"),
        ("coachboxacademy", ("", "Coachbox Academy"), "too easy to guess"),
        ("short", (), "at least 10 characters"),
    ],
)
def test_it_refuses_short_common_and_guessable_passwords(password, inputs, why):
    problem = passwords.password_problem(password, inputs)
    assert problem is not None and why in problem


def test_it_accepts_a_strong_passphrase_and_judges_only_the_first_72_characters():
    assert passwords.password_problem("violet tractor under marmalade", ("a@b.org",)) is None
    assert passwords.password_problem("violet tractor under marmalade " + "x" * 10_000) is None  # no minute-long check


def test_the_account_functions_refuse_a_weak_password_too(run_cli, conn, clock):
    _code, output = run_cli("admin", "add", "frank@school.org")
    with pytest.raises(UserError, match="too easy to guess"):
        accounts.use_token(conn, _token(output), "password123", clock.now())
    assert accounts.token_admin(conn, _token(output), clock.now()) is not None  # the link is not spent
