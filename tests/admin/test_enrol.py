"""Bulk enrolment from CSV: row-by-row checks, the preview, confirm with CSRF, one transaction, audit."""

from __future__ import annotations

import re

import pytest

from coachbox.admin.enrol import reach
from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio
XSS = "<script>alert(1)</script>"


def add_course(conn, slug="money", title="Mobile money") -> int:
    return conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES (?, 'en', ?, "
        "'2026-01-01', '2026-01-01')",
        (slug, title),
    ).lastrowid


CSV = f"""phone,name,course,cohort,language,lesson_time
0712 345 678,Amina,money,Form 2,sw,7pm
+254700000001,Baraka (renamed),money,,,
+254712345678,Twice,money,,,
12,Bad phone,money,,,
+254733000000,Nobody,no-such-course,,,
+254744000000,Late,money,,xx,25:00
+254755000000,{XSS},,,,
"""


async def _preview(client, token, text=CSV):
    _, page = await client.post("/admin/learners/enrol", data={"csrf_token": token, "csv": text, "region": "KE"})
    return page


async def test_it_previews_every_row_with_its_errors(app, client, cast, conn):
    add_course(conn)
    existing = add_learner(conn, name="Baraka", phone="+254700000001")
    token = await signed_in(client, "bob@school.test")
    page = await _preview(client, token)
    assert page.status_code == 200, page.text
    text = page.text
    assert "+254712345678" in text  # 0712 345 678 normalised with the chosen country
    assert "same phone as line 2" in text
    assert "“12” is not a valid phone number" in text
    assert "unknown course “no-such-course”" in text
    assert "unknown language “xx”" in text and "“25:00” is not a time of day" in text
    assert f'update learner <a href="/admin/learners/{existing}">' in text
    assert re.search(r"<strong>2</strong> new learners,\s*<strong>1</strong> to update", text)
    assert "&lt;script&gt;" in text and XSS not in text
    # Nothing changes before the confirm.
    assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 1


async def test_it_applies_the_valid_rows_on_confirm_and_audits(app, client, cast, conn):
    course_id = add_course(conn)
    existing = add_learner(conn, name="Baraka", phone="+254700000001", cohort="Old")
    token = await signed_in(client, "bob@school.test")
    page = await _preview(client, token)
    pending = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    _, refused = await client.post("/admin/learners/enrol/confirm", data={"token": pending})
    assert refused.status_code == 403  # no CSRF token
    _, done = await client.post(
        "/admin/learners/enrol/confirm", data={"token": pending, "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("/admin/learners/enrol?created=2&updated=1&skipped=")
    _, after = await client.get(location)  # the page says how many
    assert re.search(
        r"<strong>2</strong> new learners added, <strong>1</strong> updated, <strong>\d+</strong> rows", after.text
    )
    amina = conn.execute("SELECT * FROM learners WHERE phone = '+254712345678'").fetchone()
    assert amina["name"] == "Amina" and amina["language"] == "sw" and amina["lesson_time"] == "19:00"
    assert (
        amina["cohort"] == "Form 2" and amina["status"] == "active" and amina["channel_key"] == "whatsapp:+254712345678"
    )
    assert amina["current_course_id"] == course_id and amina["timezone"] == "Africa/Nairobi"
    baraka = conn.execute("SELECT * FROM learners WHERE id = ?", (existing,)).fetchone()
    assert baraka["name"] == "Baraka (renamed)" and baraka["cohort"] == "Old"  # blank cells leave values alone
    assert conn.execute("SELECT COUNT(*) FROM enrollments WHERE course_id = ?", (course_id,)).fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 3  # + the XSS-named one, no course
    audit = conn.execute("SELECT detail FROM audit_log WHERE action = 'learners.enrol_csv'").fetchone()
    assert '"created": 2' in audit["detail"] and '"skipped": 4' in audit["detail"]
    # Applied once: the same preview cannot be confirmed again.
    _, again = await client.post("/admin/learners/enrol/confirm", data={"token": pending, "csrf_token": token})
    assert again.status_code == 400


async def test_it_reads_an_uploaded_excel_file(app, client, cast, conn):
    add_course(conn)
    token = await signed_in(client, "bob@school.test")
    body = "\ufeffPhone;Name;Course\n+254711000111;Zawadi;money\n".encode("utf-8")
    _, page = await client.post(
        "/admin/learners/enrol", data={"csrf_token": token}, files={"file": ("list.csv", body, "text/csv")}
    )
    assert page.status_code == 200 and "+254711000111" in page.text and "Apply 1 row" in page.text


async def test_it_refuses_a_file_without_a_phone_column(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    page = await _preview(client, token, "name,course\nAmina,money\n")
    assert "phone is required" in page.text and "Apply" not in page.text


async def test_it_keeps_viewers_out_of_enrolment(app, client, cast, conn):
    token = await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/learners/enrol")
    assert page.status_code == 403
    page = await _preview(client, token)
    assert page.status_code == 403


async def test_it_adds_one_learner_from_the_form_and_says_so(app, client, cast, conn):
    course_id = add_course(conn)
    token = await signed_in(client, "bob@school.test")
    form = {"csrf_token": token, "phone": "0712 000 111", "name": "Zawadi", "course": "money", "cohort": "Form 1"}
    _, done = await client.post("/admin/learners/enrol/one", data={**form, "region": "KE"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    zawadi = conn.execute("SELECT * FROM learners WHERE phone = '+254712000111'").fetchone()
    assert zawadi["name"] == "Zawadi" and zawadi["cohort"] == "Form 1" and zawadi["current_course_id"] == course_id
    assert done.headers["location"] == f"/admin/learners/enrol?added={zawadi['id']}&how=created#enrol-done"
    _, page = await client.get(done.headers["location"])
    assert "Zawadi (+254712000111) was added, in Mobile money." in page.text
    assert f'href="/admin/learners/{zawadi["id"]}"' in page.text
    audit = conn.execute("SELECT target, detail FROM audit_log WHERE action = 'learners.enrol_one'").fetchone()
    assert audit["target"] == f"learner:{zawadi['id']}" and '"created": 1' in audit["detail"]
    # The same number again updates that learner (blank fields leave their values alone).
    _, again = await client.post(
        "/admin/learners/enrol/one",
        data={"csrf_token": token, "phone": "+254712000111", "cohort": "Form 2"},
        follow_redirects=False,
    )
    assert again.headers["location"].endswith("&how=updated#enrol-done")
    row = conn.execute("SELECT name, cohort FROM learners WHERE id = ?", (zawadi["id"],)).fetchone()
    assert tuple(row) == ("Zawadi", "Form 2")
    assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 1


async def test_one_learner_with_a_mistake_is_not_added_and_the_form_keeps_what_was_typed(app, client, cast, conn):
    add_course(conn)
    token = await signed_in(client, "bob@school.test")
    _, page = await client.post(
        "/admin/learners/enrol/one",
        data={"csrf_token": token, "phone": "12", "name": XSS, "course": "no-such", "lesson_time": "25:00"},
    )
    assert page.status_code == 400
    assert "The learner was not added: “12” is not a valid phone number" in page.text
    assert "unknown course “no-such”" in page.text and "“25:00” is not a time of day" in page.text
    assert 'id="one-phone" name="phone"' in page.text and 'value="12"' in page.text
    assert "&lt;script&gt;" in page.text and XSS not in page.text
    assert conn.execute("SELECT COUNT(*) FROM learners").fetchone()[0] == 0
    _, empty = await client.post("/admin/learners/enrol/one", data={"csrf_token": token, "phone": " "})
    assert empty.status_code == 400 and "write the learner&#39;s phone number" in empty.text


async def test_the_page_names_real_courses_by_their_short_names(app, client, cast, conn):
    add_course(conn, slug="money", title="Mobile money")
    await signed_in(client, "bob@school.test")
    _, page = await client.get("/admin/learners/enrol")
    assert "<strong>Mobile money</strong>: <code>money</code>" in page.text
    assert "+254712345678,Amina Odhiambo,money,Form 2,en,07:30" in page.text  # the example's course exists
    assert "digital-money" not in page.text
    assert '<option value="money">Mobile money (money)</option>' in page.text
    # The simulator box reaches nobody on WhatsApp, and says so.
    assert "learners added here receive nothing" in page.text


@pytest.mark.parametrize("templates", [{}, {"lesson_nudge": "HX" + "1" * 32}])
def test_on_whatsapp_it_says_new_learners_must_write_first_or_get_the_nudge_template(settings, templates):
    whatsapp = settings.replace(
        twilio={
            "account_sid": "AC" + "0" * 32,
            "auth_token": "t" * 32,
            "whatsapp_from": "whatsapp:+14155238886",
            "templates": templates,
        }
    )
    said = reach(whatsapp)
    assert said["whatsapp"] and said["sender"] == "+14155238886"
    assert said["wa_link"] == "https://wa.me/14155238886?text=hi"
    assert said["nudge"] is bool(templates) and said["section"] == "[twilio.templates] lesson_nudge"
