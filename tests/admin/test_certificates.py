"""Certificates list (search, status) and revoke with a reason; viewers look only; learner names escaped."""

from __future__ import annotations

import pytest

from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
XSS = "<script>alert(1)</script>"


def add_certificate(conn, code, learner_id, name, course_id):
    conn.execute(
        """INSERT INTO certificates (code, learner_id, course_id, learner_name, score, issued_at)
                    VALUES (?, ?, ?, ?, 90, '2026-03-01T10:00:00+00:00')""",
        (code, learner_id, course_id, name),
    )


@pytest.fixture
def certificates(conn):
    course_id = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES "
        "('money', 'en', 'Mobile money', '2026-01-01', '2026-01-01')"
    ).lastrowid
    add_certificate(conn, "CBX-AAAA-1111", add_learner(conn, phone="+254700000001"), "Amina Odhiambo", course_id)
    add_certificate(conn, "CBX-BBBB-2222", add_learner(conn, phone="+254700000002"), XSS, course_id)


async def test_it_lists_and_searches_certificates(app, client, cast, conn, certificates):
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/certificates")
    assert "CBX-AAAA-1111" in page.text and "Mobile money" in page.text and "2 valid, 0 revoked" in page.text
    assert "&lt;script&gt;" in page.text and XSS not in page.text
    assert "Revoke certificate" not in page.text  # viewers look only
    _, page = await client.get("/admin/certificates?q=amina")
    assert "CBX-AAAA-1111" in page.text and "CBX-BBBB-2222" not in page.text


async def test_it_revokes_a_certificate_with_a_reason(app, client, cast, conn, certificates):
    token = await signed_in(client, "bob@school.test")
    _, refused = await client.post("/admin/certificates/CBX-AAAA-1111/revoke", data={"csrf_token": token})
    assert refused.status_code == 400  # no reason
    _, done = await client.post(
        "/admin/certificates/CBX-AAAA-1111/revoke",
        data={"csrf_token": token, "reason": "exam retaken by someone else"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    row = conn.execute("SELECT revoked_at, revoke_reason FROM certificates WHERE code = 'CBX-AAAA-1111'").fetchone()
    assert row["revoked_at"] and row["revoke_reason"] == "exam retaken by someone else"
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoke'").fetchone()[0] == 1
    _, page = await client.get("/admin/certificates?status=revoked")
    assert "CBX-AAAA-1111" in page.text and "CBX-BBBB-2222" not in page.text
    _, again = await client.post(
        "/admin/certificates/CBX-AAAA-1111/revoke", data={"csrf_token": token, "reason": "again"}
    )
    assert again.status_code == 400


async def test_it_does_not_let_viewers_revoke(app, client, cast, conn, certificates):
    token = await signed_in(client, "charlie@school.test")
    _, refused = await client.post(
        "/admin/certificates/CBX-AAAA-1111/revoke", data={"csrf_token": token, "reason": "no"}
    )
    assert refused.status_code == 403
    assert conn.execute("SELECT revoked_at FROM certificates WHERE code = 'CBX-AAAA-1111'").fetchone()[0] is None
