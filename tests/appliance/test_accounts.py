"""Admin accounts: `coachbox init` / `admin add` / `admin reset` links, one-time tokens, scrypt passwords."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from coachbox.admin import accounts
from coachbox.admin.passwords import hash_password, verify_password
from coachbox.cli import main as cli


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


def test_it_prints_the_setup_link_only_while_no_admin_exists(run_cli, settings):
    code, first = run_cli("init")
    assert code == 0 and "/admin/setup?token=" in first
    code, second = run_cli("init")  # idempotent: same data, same link
    assert code == 0 and _token(second) == _token(first)

    code, added = run_cli("admin", "add", "alice@school.org", "--role", "owner")
    assert code == 0 and f"{settings.server.public_url}/admin/reset?token=" in added
    code, third = run_cli("init")
    assert code == 0 and "token=" not in third


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


def test_it_hashes_passwords_with_salted_scrypt():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", None) and not verify_password("x", "garbage")
