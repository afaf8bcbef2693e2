"""Operations: failed messages with retry, backups, settings with secrets masked; the simulator panel."""

from __future__ import annotations

import html

import pytest
from pyrage import x25519

from tests.admin.conftest import add_learner, signed_in

pytestmark = pytest.mark.anyio


async def test_it_lists_failed_messages_and_retries_them(app, client, cast, conn):
    learner_id = add_learner(conn)
    cursor = conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, error_code,
                             attempts, created_at, updated_at) VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', 'Lesson 3',
                             'failed', '30003', 4, '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    )
    token = await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    assert "Lesson 3" in page.text and "handset was unreachable" in page.text
    _, response = await client.post(
        "/admin/operations/retry",
        data={"message_id": str(cursor.lastrowid), "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    row = conn.execute("SELECT status, error_code FROM messages WHERE id = ?", (cursor.lastrowid,)).fetchone()
    # Queued again; a running sender may already have moved it on (here: waiting, as the window is closed).
    assert row["status"] in ("queued", "sending", "waiting") and row["error_code"] is None
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'outbox.retry'").fetchone()[0] == 1


async def test_it_masks_secrets_in_the_settings_view(app, client, cast, conn, settings):
    secret = "sk_live_do_not_show_me"
    app.ctx.services.settings = settings.replace(stripe={"secret_key": secret})
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    assert secret not in page.text and "stripe.secret_key" in page.text


async def test_it_creates_and_serves_backups_but_no_other_files(app, client, cast, conn, settings):
    token = await signed_in(client, "alice@school.test")
    _, response = await client.post("/admin/operations/backups", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    name = next((settings.data_dir / "backups").glob("coachbox-backup-*.tar.gz")).name
    _, download = await client.get(f"/admin/operations/backups/{name}")
    assert download.status_code == 200 and download.content[:2] == b"\x1f\x8b"
    for bad in ("..%2Fcoachbox.db", "coachbox-backup-..%2F..%2Fcoachbox.db.tar.gz"):
        _, refused = await client.get(f"/admin/operations/backups/{bad}")
        assert refused.status_code == 404


async def test_it_shows_the_simulator_panel_to_editors_only(app, client, cast):
    await signed_in(client, "charlie@school.test")
    _, page = await client.get("/admin/simulator")
    assert page.status_code == 403
    other = type(client)(app)
    await signed_in(other, "bob@school.test")
    _, page = await other.get("/admin/simulator")
    assert page.status_code == 200 and 'id="sim-form"' in page.text


async def test_it_lets_signed_in_editors_use_the_simulator_api(app, client, cast):
    token = await signed_in(client, "bob@school.test")
    _, response = await client.post(
        "/api/v1/simulator/messages", json={"phone": "+15550100001", "text": "hi"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200, response.text
    assert response.json["replies"]


async def test_it_lists_the_last_run_of_each_job(app, client, cast, conn):
    for name, started, outcome, detail in (
        ("daily_lessons", "2026-03-02T04:00:00+00:00", "ok", "old run"),
        ("daily_lessons", "2026-03-02T04:59:00+00:00", "ok", "312 lessons"),
        ("some_other_job", "2026-03-02T00:05:00+00:00", "error", "<b>disk full</b>"),
    ):
        conn.execute(
            "INSERT INTO job_runs (name, started_at, finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?)",
            (name, started, started, outcome, detail),
        )
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    assert "312 lessons" in page.text and "old run" not in page.text
    assert "&lt;b&gt;disk full&lt;/b&gt;" in page.text and "some_other_job" in page.text
    assert "quiz_followups" in page.text and "never run" in page.text  # the scheduler's job list, run or not
    assert "configuration loaded" in page.text  # the full `coachbox check` findings (appliance.run_checks)


async def test_it_says_what_becomes_of_each_waiting_row(app, client, cast, conn):
    learner_id = add_learner(conn)
    reason = "waiting for the learner to write (no template configured)"
    for body, kind, template in (
        ("Your lesson is ready", "nudge", "lesson_nudge"),
        ("Streak at risk", "reminder", "reminder"),
    ):
        conn.execute(
            """INSERT INTO messages (learner_id, direction, channel, address, body, kind, template_key, status,
                        error_message, attempts, created_at, updated_at) VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', ?,
                        ?, ?, 'waiting', ?, 0, '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
            (learner_id, body, kind, template, reason),
        )
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    text = html.unescape(" ".join(page.text.split()))
    rows = {
        body: next(r for r in text.split("<tr>") if body in r) for body in ("Your lesson is ready", "Streak at risk")
    }
    # A nudge is cancelled when the learner writes (their reply brings the held lesson); other rows go out then.
    assert "it goes out when the learner writes again" not in text
    nudge, reminder = rows["Your lesson is ready"], rows["Streak at risk"]
    assert "cancelled" in nudge and "brings the held lesson" in nudge and "'lesson_nudge' template" in nudge
    assert "goes out when the learner writes" not in nudge
    assert "goes out when the learner writes again, or retry after adding the 'reminder' template" in reminder
    assert "cancelled" not in reminder


async def test_it_warns_while_backups_are_not_encrypted_and_serves_encrypted_ones(app, client, cast, conn, settings):
    token = await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    assert "backups are NOT encrypted" in _encryption_line(page.text)
    public = str(x25519.Identity.generate().to_public())
    app.ctx.services.settings = settings.replace(backup={"recipients": public})
    _, response = await client.post("/admin/operations/backups", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    name = next((settings.data_dir / "backups").glob("coachbox-backup-*.tar.gz.age")).name
    _, page = await client.get("/admin/operations")
    assert "backups are encrypted with age to 1 key" in _encryption_line(page.text)
    assert name in page.text
    _, download = await client.get(f"/admin/operations/backups/{name}")
    assert download.status_code == 200 and download.content.startswith(b"age-encryption.org/v1\n")


def _encryption_line(text: str) -> str:
    start = text.index('id="backup-encryption"')
    return text[start : text.index("</p>", start)]


async def test_it_opens_with_plain_words_and_folds_the_details(app, client, cast, conn, settings):
    learner_id = add_learner(conn)
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, status, error_code,
                             attempts, created_at, updated_at) VALUES (?, 'out', 'whatsapp', 'whatsapp:+1', 'Lesson 3',
                             'failed', '30003', 4, '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""",
        (learner_id,),
    )
    app.ctx.services.settings = settings.replace(schedule={"review_per_day": 5})
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/operations")
    glance = page.text.split('id="glance-h"', 1)[1].split("</section>", 1)[0]
    assert "1 message could not be sent" in glance and "No backup yet" in glance
    assert "Nothing has run yet" in glance  # no job has run in this fresh box
    # Settings: one folded list per section, the changed key marked, no wide table to scroll sideways.
    settings_part = page.text.split('id="settings-h"', 1)[1]
    assert "<table" not in settings_part and "<details" in settings_part
    schedule = settings_part.split("[schedule]", 1)[1].split("</details>", 1)[0]
    assert "changed" in schedule and "schedule.review_per_day" in schedule
