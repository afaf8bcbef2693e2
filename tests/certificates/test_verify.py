"""GET /verify/<code>: the public check shows first name, course, date and status, never the phone."""

from __future__ import annotations

import pytest

from coachbox.certificates import service
from tests.certificates import seed


@pytest.fixture
def issued(services, conn, courses):
    learner = seed.add_learner(conn, name="Amina Wanjiru Otieno", phone="+254712345678")
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=88)
    return service.issue_certificate(services, learner, courses["mobile-money-safety"]).certificate


@pytest.mark.anyio
async def test_it_confirms_a_valid_certificate_with_the_first_name_only(app, issued):
    _, response = await app.asgi_client.get(f"/verify/{issued.code}")

    assert response.status == 200
    page = response.text
    assert "Valid certificate" in page and "Amina" in page and "Mobile Money Safety" in page
    assert "2 March 2026" in page and issued.code in page and "Tumaini Learning Centre" in page
    assert "Wanjiru" not in page and "Otieno" not in page
    assert "254712345678" not in page and "712345678" not in page
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_it_accepts_the_code_as_people_type_it(app, issued):
    typed = issued.code.lower().replace("-", "")

    _, response = await app.asgi_client.get(f"/verify/{typed}")

    assert response.status == 200 and issued.code in response.text


@pytest.mark.anyio
async def test_it_shows_a_revoked_certificate_as_revoked(app, services, issued):
    service.revoke(services, issued.code, reason="exam misconduct")

    _, response = await app.asgi_client.get(f"/verify/{issued.code}")

    assert response.status == 200
    assert "Revoked" in response.text and "Valid certificate" not in response.text
    assert "exam misconduct" not in response.text  # the reason is for the admins, not the public


@pytest.mark.anyio
async def test_it_answers_unknown_codes_with_a_friendly_404(app, courses):
    _, response = await app.asgi_client.get("/verify/ZZZZ-ZZZZ")
    _, odd = await app.asgi_client.get("/verify/<b>nope")

    assert response.status == 404 and odd.status == 404
    assert "could not find that certificate" in response.text and "ZZZZ-ZZZZ" in response.text
    assert "<b>" not in odd.text


@pytest.mark.anyio
async def test_it_shows_the_page_in_the_certificates_language(app, services, conn, courses):
    learner = seed.add_learner(conn, name="Juma Hamisi", language="sw", phone="+254712000111")
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=90)
    certificate = service.issue_certificate(services, learner, courses["mobile-money-safety"]).certificate

    _, response = await app.asgi_client.get(f"/verify/{certificate.code}")
    _, missing = await app.asgi_client.get("/verify/ZZZZ-ZZZZ?lang=sw")

    assert response.status == 200 and '<html lang="sw">' in response.text
    assert "Cheti halali" in response.text and "Mwanafunzi" in response.text and "2 Machi 2026" in response.text
    assert "Valid certificate" not in response.text and "Juma" in response.text and "Hamisi" not in response.text
    assert missing.status == 404 and "Hatukuweza kupata cheti hicho" in missing.text
    assert "<strong>ZZZZ-ZZZZ</strong>" in missing.text
