"""Times a teacher reads: the org's time zone and language (babel), and forms that take the school's local time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coachbox.admin.times import Times, org_locale
from coachbox.core.config import Settings
from coachbox.roots.app import create_app
from tests.admin.conftest import add_learner, signed_in
from tests.conftest import REPO

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # Monday 08:00 in Nairobi


def nairobi(language: str = "en") -> Times:
    return Times.for_org("Africa/Nairobi", language, lambda: NOW)


def test_it_shows_a_stored_utc_time_in_nairobi_time_for_a_kenyan_reader():
    times = nairobi()
    assert str(times.locale) == "en_KE"  # the org's language in the zone's country: 24-hour clock, day first
    assert times.when("2026-03-02T04:30:00+00:00") == "2 Mar 2026, 07:30"
    assert times.when(datetime(2026, 12, 7, 6, 30, tzinfo=UTC)) == "7 Dec 2026, 09:30"
    assert times.when("2026-03-02T22:15:00") == "3 Mar 2026, 01:15"  # naive stored text is UTC: the next day here
    assert times.when_date("2026-03-02T22:15:00+00:00") == "3 Mar 2026"
    assert times.when_date("2026-03-02") == "2 Mar 2026"  # a day alone stays that day
    assert times.when_time("2026-03-02T04:00:00+00:00") == "07:00"
    assert times.zone_label == "Nairobi time"
    assert times.when(None) == "—" and times.when("") == "—" and times.when("not a time") == "not a time"


def test_it_speaks_kiswahili_when_the_org_does():
    times = nairobi("sw")
    assert str(times.locale) == "sw_KE"
    assert times.when("2026-03-02T04:30:00+00:00") == "2 Mac 2026 07:30"
    assert times.ago("2026-03-02T02:00:00+00:00") == "saa 3 zilizopita"


def test_ago_counts_from_the_apps_clock_not_the_wall_clock():
    times = nairobi()
    assert times.ago("2026-03-02T02:00:00+00:00") == "3 hours ago"
    assert times.ago("2026-03-04T05:00:00+00:00") == "in 2 days"
    assert times.ago("2026-03-02T04:59:40+00:00") == "just now"


def test_a_learners_time_is_in_their_zone_with_the_day_when_it_differs():
    times = nairobi()
    assert times.learner_time("2026-03-02T04:00:00+00:00", "Africa/Nairobi") == "07:00"
    assert times.learner_time("2026-03-02T04:00:00+00:00", "Europe/London") == "04:00"
    # 22:00 UTC is Tuesday 01:00 in Nairobi and Tuesday 03:30 in Kolkata: same day as the org's, no weekday.
    assert times.learner_time("2026-03-02T22:00:00+00:00", "Asia/Kolkata") == "03:30"
    # 03:00 UTC is Monday 06:00 in Nairobi but Sunday 22:00 in New York: the day is said.
    assert times.learner_time("2026-03-02T03:00:00+00:00", "America/New_York") == "Sun 22:00"
    assert times.learner_time("2026-03-02T04:00:00+00:00", None) == "07:00"  # no zone: the org's


def test_a_datetime_local_field_is_read_and_written_in_the_schools_time():
    times = nairobi()
    assert times.parse_local("2026-03-02T19:30") == datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
    assert times.parse_local("tomorrow") is None
    assert times.input_value("2026-03-02T16:30:00+00:00") == "2026-03-02T19:30"


def test_an_unknown_language_or_zone_falls_back_instead_of_failing():
    assert str(org_locale("xx", "Africa/Nairobi")) == "en"
    assert str(org_locale("fr", "Europe/Paris")) == "fr_FR"
    assert Times.for_org("Not/AZone", "en", lambda: NOW).zone_name == "UTC"


@pytest.mark.anyio
async def test_admin_pages_show_times_in_the_orgs_zone_not_utc(app, client, cast, conn):
    learner_id = add_learner(conn, name="Amina", last_inbound_at="2026-03-02T04:30:00+00:00")
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/learners")
    assert "2 Mar 2026, 07:30" in page.text and " UTC" not in page.text
    _, page = await client.get("/admin/users")  # last sign-in: the fake clock's 05:00 UTC is 08:00 in Nairobi
    assert "2 Mar 2026, 08:00" in page.text and " UTC" not in page.text
    assert learner_id


@pytest.mark.anyio
async def test_each_app_formats_with_its_own_orgs_settings(tmp_path, services, clock):
    """No global state: two apps in one process, one Nairobi/English and one Lagos/Kiswahili, each keep theirs."""
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "other"),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_ORG_DEFAULT_TIMEZONE": "Africa/Lagos",
        "COACHBOX_ORG_DEFAULT_LANGUAGE": "sw",
    }
    other = create_app(Settings.load(REPO / "coachbox.toml", environ), services, name="other_org")
    here = create_app(services.settings, services, name="this_org")
    when = "2026-03-02T04:30:00+00:00"
    assert other.ctx.admin_env.filters["when"](when) == "2 Mac 2026 05:30"
    assert here.ctx.admin_env.filters["when"](when) == "2 Mar 2026, 07:30"
    clock.set("2026-03-02T07:30:00+00:00")
    assert here.ctx.admin_env.filters["ago"](when) == "3 hours ago"  # the app's clock, moved by the test


@pytest.mark.anyio
async def test_a_broadcast_typed_in_nairobi_time_is_shown_back_in_it_and_waits_for_quiet_hours(app, client, cast, conn):
    add_learner(conn, name="Amina", phone="+254700000001")  # Africa/Nairobi, quiet 21:00-07:00
    token = await signed_in(client, "bob@school.test")
    form = {"csrf_token": token, "body": "Exams start Monday", "audience": "all", "when": "2026-03-02T23:00"}
    _, asked = await client.post("/admin/broadcasts", data=form)
    # 23:00 in Nairobi is inside the learner's quiet hours: nothing is scheduled before the teacher hears so.
    assert asked.status_code == 200 and "Not scheduled yet." in asked.text
    assert "At 2 Mar 2026, 23:00 (Nairobi time), 1 of 1 recipients are in their quiet hours" in asked.text
    assert "1 at 07:00 tomorrow (Africa/Nairobi)" in asked.text and "Schedule anyway" in asked.text
    assert 'value="2026-03-02T23:00"' in asked.text  # what was typed stays typed
    assert conn.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0
    _, done = await client.post("/admin/broadcasts", data={**form, "quiet_ok": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    stored = conn.execute("SELECT id, scheduled_at FROM broadcasts").fetchone()
    assert datetime.fromisoformat(stored["scheduled_at"]) == datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    _, page = await client.get(f"/admin/broadcasts/{stored['id']}")
    assert "2 Mar 2026, 23:00" in page.text and "(Nairobi time)" in page.text and " UTC" not in page.text
    assert "1 of 1 recipients are in their quiet hours then" in page.text and "07:00 tomorrow" in page.text


@pytest.mark.anyio
async def test_a_broadcast_form_error_keeps_the_typed_local_time(app, client, cast, conn):
    token = await signed_in(client, "bob@school.test")
    _, page = await client.post(
        "/admin/broadcasts", data={"csrf_token": token, "body": "", "audience": "all", "when": "2026-03-03T09:15"}
    )
    assert page.status_code == 400 and "Write a message" in page.text and 'value="2026-03-03T09:15"' in page.text
    assert "Nairobi time" in page.text
