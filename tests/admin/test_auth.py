"""Sign-in, first-run setup, sessions, CSRF, roles, throttling and the audit log."""

from __future__ import annotations

import base64
import hashlib

import pytest

from coachbox.store.secrets import setup_link
from tests.admin.conftest import PASSWORD, csrf_from, sign_in, signed_in

pytestmark = pytest.mark.anyio


async def test_it_redirects_anonymous_visitors_to_sign_in(app, client):
    _, response = await client.get("/admin/users?x=1", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/admin/login?next=/admin/users")


async def test_it_creates_the_owner_from_the_first_run_link(app, client, conn, settings, clock):
    link = setup_link(conn, settings, clock.now())
    token = link.url.split("token=")[1]
    _, page = await client.get(f"/admin/setup?token={token}")
    assert page.status_code == 200
    form = {
        "token": token,
        "email": "owner@school.test",
        "password": "a long password",
        "password2": "a long password",
        "csrf_token": csrf_from(page.text),
    }
    _, response = await client.post("/admin/setup", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert "HttpOnly" in response.headers["set-cookie"] and "SameSite=Lax" in response.headers["set-cookie"]
    _, home = await client.get("/admin/")
    assert home.status_code == 200 and "owner@school.test" in home.text
    assert conn.execute("SELECT role FROM admins").fetchone()[0] == "owner"
    # The link works once.
    _, again = await client.get(f"/admin/setup?token={token}")
    assert again.status_code == 404


async def test_it_refuses_a_wrong_setup_token(app, client, conn, settings, clock):
    setup_link(conn, settings, clock.now())
    _, page = await client.get("/admin/setup?token=guess")
    assert page.status_code == 404


async def test_an_expired_setup_link_says_to_run_admin_reset(app, client, conn, settings, clock):
    token = setup_link(conn, settings, clock.now()).url.split("token=")[1]
    clock.advance(hours=24)
    _, page = await client.get(f"/admin/setup?token={token}")
    assert page.status_code == 410
    assert "expired" in page.text and "coachbox admin reset" in page.text
    # Posting the form of a page opened in time does not create the owner either.
    _, login = await client.get("/admin/login")
    form = {"token": token, "email": "late@school.test", "password": PASSWORD, "password2": PASSWORD}
    _, response = await client.post("/admin/setup", data={**form, "csrf_token": csrf_from(login.text)})
    assert response.status_code == 410 and "coachbox admin reset" in response.text
    assert conn.execute("SELECT COUNT(*) FROM admins").fetchone()[0] == 0


async def test_it_refuses_a_guessable_password_at_setup_and_says_why(app, client, conn, settings, clock):
    token = setup_link(conn, settings, clock.now()).url.split("token=")[1]
    _, page = await client.get(f"/admin/setup?token={token}")
    form = {"token": token, "email": "owner@school.test", "password": "aaaaaaaaaa", "password2": "aaaaaaaaaa"}
    _, response = await client.post("/admin/setup", data={**form, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 400
    assert "too easy to guess" in response.text and "Repeats like" in response.text
    assert conn.execute("SELECT COUNT(*) FROM admins").fetchone()[0] == 0


def _scrypt(password: str) -> str:
    """A hash as coachbox made them before argon2id."""
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$16384$8$1$" + "$".join(base64.b64encode(x).decode().rstrip("=") for x in (salt, key))


async def test_a_scrypt_password_still_signs_in_and_is_upgraded_to_argon2id(app, client, conn):
    conn.execute(
        "INSERT INTO admins (email, password_hash, role, created_at) VALUES (?, ?, 'owner', '2026-03-01T00:00:00Z')",
        ("old@school.test", _scrypt(PASSWORD)),
    )
    assert (await sign_in(client, "old@school.test", "not the password")).status_code == 401
    assert conn.execute("SELECT password_hash FROM admins").fetchone()[0].startswith("scrypt$")
    assert (await sign_in(client, "old@school.test")).status_code == 303
    assert conn.execute("SELECT password_hash FROM admins").fetchone()[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await sign_in(type(client)(app), "old@school.test")).status_code == 303


async def test_it_signs_in_and_out(app, client, cast):
    response = await sign_in(client, "alice@school.test")
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    _, home = await client.get("/admin/")
    assert "alice@school.test" in home.text
    token = csrf_from(home.text)
    _, out = await client.post("/admin/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    _, after = await client.get("/admin/", follow_redirects=False)
    assert after.status_code in (302, 303)


async def test_it_rejects_a_wrong_password(app, client, cast):
    response = await sign_in(client, "alice@school.test", "wrong password!")
    assert response.status_code == 401
    assert "do not match" in response.text


async def test_it_throttles_repeated_failures_per_account(app, client, cast):
    for _ in range(5):
        assert (await sign_in(client, "alice@school.test", "nope nope nope")).status_code == 401
    # Even the right password is refused while the account is throttled.
    response = await sign_in(client, "alice@school.test", PASSWORD)
    assert response.status_code == 429


async def test_it_rotates_the_session_id_at_sign_in(app, client, cast, conn):
    # An attacker plants a session cookie; signing in must not adopt it (session fixation).
    client.cookies.set("cbx_session", "planted-by-attacker", domain="mockserver.local")
    await sign_in(client, "alice@school.test")
    assert client.cookies.get("cbx_session", domain="mockserver.local") != "planted-by-attacker"
    hashes = [r[0] for r in conn.execute("SELECT id_hash FROM admin_sessions")]
    assert len(hashes) == 1


async def test_it_refuses_posts_without_the_csrf_token(app, client, cast):
    await signed_in(client, "alice@school.test")
    _, response = await client.post("/admin/users", data={"email": "x@y.test", "role": "viewer"})
    assert response.status_code == 403
    _, response = await client.post("/admin/logout", data={"csrf_token": "forged"})
    assert response.status_code == 403
    _, response = await client.post("/admin/logout", data={"csrf_token": "forg\u00e9d \u00ff"})  # not a 500
    assert response.status_code == 403


async def test_it_refuses_login_without_the_presession_token(app, client, cast):
    _, response = await client.post("/admin/login", data={"email": "alice@school.test", "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.parametrize("email", ["bob@school.test", "charlie@school.test"])
async def test_it_blocks_non_owners_from_owner_pages(app, client, cast, email):
    token = await signed_in(client, email)
    for path in ("/admin/users", "/admin/audit", "/admin/tokens"):
        _, response = await client.get(path)
        assert response.status_code == 403, path
    _, response = await client.post("/admin/users", data={"email": "x@y.test", "role": "owner", "csrf_token": token})
    assert response.status_code == 403


async def test_it_adds_an_admin_with_a_one_time_link_and_audits_it(app, client, cast, conn):
    token = await signed_in(client, "alice@school.test")
    _, response = await client.post(
        "/admin/users", data={"email": "dora@school.test", "role": "viewer", "csrf_token": token}
    )
    assert response.status_code == 200
    link = response.text.split('readonly value="')[1].split('"')[0]
    assert "/admin/reset?token=" in link
    row = conn.execute("SELECT action, target FROM audit_log WHERE action = 'admin.add'").fetchone()
    assert row["target"] == "admin:dora@school.test"
    # Dora sets her password through the link and is signed in.
    other = type(client)(app)
    path = link[link.index("/admin/reset") :].replace("&amp;", "&")
    _, page = await other.get(path)
    assert page.status_code == 200 and "dora@school.test" in page.text
    form = {
        "token": path.split("token=")[1],
        "password": "dora's long pw",
        "password2": "dora's long pw",
        "csrf_token": csrf_from(page.text),
    }
    _, weak = await other.post(
        "/admin/reset", data={**form, "password": "dora@school.test", "password2": "dora@school.test"}
    )
    assert weak.status_code == 400 and "too easy to guess" in weak.text  # her own email is no password
    form["csrf_token"] = csrf_from(weak.text)
    _, done = await other.post("/admin/reset", data=form, follow_redirects=False)
    assert done.status_code == 303
    _, again = await other.get(path)
    assert again.status_code == 404


async def test_it_keeps_at_least_one_owner(app, client, cast):
    token = await signed_in(client, "alice@school.test")
    _, response = await client.post(
        f"/admin/users/{cast['alice@school.test']}/role", data={"role": "viewer", "csrf_token": token}
    )
    # Refused on the Users page itself (409), saying why and what to do instead.
    assert response.status_code == 409 and "make someone else owner first" in response.text


async def test_it_changes_the_password_and_signs_out_other_sessions(app, client, cast, conn):
    other = type(client)(app)
    await signed_in(other, "alice@school.test")
    token = await signed_in(client, "alice@school.test")
    _, response = await client.post(
        "/admin/account/password",
        data={"current": PASSWORD, "password": "a brand new one", "password2": "a brand new one", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    _, still = await client.get("/admin/account")
    assert still.status_code == 200
    _, gone = await other.get("/admin/account", follow_redirects=False)
    assert gone.status_code in (302, 303)
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'password.change'").fetchone()[0] == 1


async def test_it_refuses_a_guessable_new_password_on_the_account_page(app, client, cast, conn):
    token = await signed_in(client, "alice@school.test")
    before = conn.execute("SELECT password_hash FROM admins WHERE email = 'alice@school.test'").fetchone()[0]
    _, response = await client.post(
        "/admin/account/password",
        data={"current": PASSWORD, "password": "password123", "password2": "password123", "csrf_token": token},
    )
    assert response.status_code == 400 and "too easy to guess" in response.text
    assert conn.execute("SELECT password_hash FROM admins WHERE email = 'alice@school.test'").fetchone()[0] == before


async def test_it_does_not_redirect_off_site_after_sign_in(app, client, cast):
    _, page = await client.get("/admin/login?next=//evil.example/")
    assert "//evil.example" not in page.text


async def test_it_sends_security_headers(app, client, cast):
    await signed_in(client, "charlie@school.test")
    _, response = await client.get("/admin/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
