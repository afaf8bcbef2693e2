"""The Costs page: figures from the ledger, roles, month boundaries in the org's time zone, budget banners, CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from coachbox.admin import charts
from coachbox.admin.costs import Month, axis_money, chosen_month, money
from coachbox.core.config import Settings
from tests.admin.conftest import add_learner, signed_in
from tests.conftest import REPO

pytestmark = pytest.mark.anyio

PAGE = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def budget() -> str:
    """[costs] monthly_budget_usd for this test (a test parametrizes it to try the banners)."""
    return "0"


@pytest.fixture
def stop_at_budget() -> str:
    return "false"


@pytest.fixture
def settings(tmp_path, budget, stop_at_budget) -> Settings:
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_COSTS_MONTHLY_BUDGET_USD": budget,
        "COACHBOX_COSTS_STOP_PROACTIVE_AT_BUDGET": stop_at_budget,
    }
    return Settings.load(REPO / "coachbox.toml", environ)


def message(
    conn,
    learner_id,
    at,
    *,
    direction="out",
    kind="lesson",
    estimate=9000,
    actual=None,
    category=None,
    channel="whatsapp",
):
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, market, cost_category,
                                 cost_estimate_micros, cost_actual_micros, created_at, updated_at)
           VALUES (?, ?, ?, 'whatsapp:+254700000001', 'x', ?, ?, 'KE', ?, ?, ?, ?, ?)""",
        (
            learner_id,
            direction,
            channel,
            "inbound" if direction == "in" else kind,
            "received" if direction == "in" else "delivered",
            category or ("free" if direction == "in" else "service"),
            estimate,
            actual,
            at,
            at,
        ),
    )


def seed(conn) -> tuple[int, int]:
    """Two learners on 1 March 2026 (Nairobi): 3 received at $0.005, a lesson and a quiz at $0.009 (the quiz's actual
    price $0.0095), a reminder template at $0.0275. Best cost: $0.061; per active learner $0.0305."""
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) "
        "VALUES ('maths', 'en', 'Maths basics', '2026-01-01', '2026-01-01')"
    ).lastrowid
    amina = add_learner(conn, cohort="Form 2")
    baraka = add_learner(conn, name="Baraka", phone="+254700000002", cohort='=HYPERLINK("http://x.test","y")')
    conn.execute("UPDATE learners SET current_course_id = ? WHERE id = ?", (course, amina))
    day = "2026-03-01T06:00:00+00:00"
    message(conn, amina, day, direction="in", estimate=5000)
    message(conn, amina, "2026-03-01T06:01:00+00:00", direction="in", estimate=5000)
    message(conn, amina, day, kind="lesson", estimate=9000)
    message(conn, amina, day, kind="quiz", estimate=9000, actual=9500)
    message(conn, baraka, day, direction="in", estimate=5000)
    message(conn, baraka, day, kind="reminder", estimate=27500, category="utility")
    return amina, baraka


async def test_the_page_shows_this_months_figures_forecast_and_breakdowns(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert page.status_code == 200, page.text
    text = page.text
    assert "March 2026" in text
    assert "<b>$0.061</b><span>spent so far this month" in text
    assert "<b>$0.0305</b><span>per active learner (2 learners wrote this month)" in text
    # Forecast: the box is a day old (first message 23 hours before now, 2 March 05:00 UTC), so its run-rate is
    # that day's: $0.061 so far + $0.061 a day × 29.7 days left.
    assert "<b>$1.87</b><span>forecast for the month: so far + the average of the 1 day since the first message" in text
    assert "($0.061 a day) × 29.7 days left" in text
    # Estimate vs actual: 1 of 6 priced messages, $0.0095 against $0.009.
    assert (
        "reported the price of 1 of the 6 messages we estimated (17%): $0.0095, against our estimate of $0.009" in text
    )
    assert "$0.0005 more, +5.6%" in text
    for label in ("Reminders", "Lessons", "Quiz questions and feedback", "Learners&#39; messages (received)"):
        assert label in text
    assert "Maths basics" in text and "No course" in text and "Form 2" in text
    assert "By main class (at each message&#39;s time)" in text
    assert "Utility templates" in text
    assert text.count("<svg") == 2  # one chart, drawn for wide screens and for phones
    assert "<title>03-01 · cost: $0.061</title>" in text  # a bar for 1 March, in Nairobi days
    assert ">$0.1</text>" in text and ">$0.025</text>" in text  # the axis, to 10 cents
    assert 'aria-current="page">Costs' in text
    assert "No monthly budget is set" in text


async def test_owners_and_editors_see_costs_viewers_do_not(app, client, cast, conn):
    await signed_in(client, "bob@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert page.status_code == 200
    _, csv_response = await client.get("/admin/costs.csv")
    assert csv_response.status_code == 200

    viewer = type(client)(app)
    await signed_in(viewer, "charlie@school.test")
    _, home = await viewer.get("/admin/", headers=PAGE)
    assert 'href="/admin/costs"' not in home.text  # no nav item, no dashboard line
    _, refused = await viewer.get("/admin/costs", headers=PAGE)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")  # words on a page, never raw JSON
    assert "needs the editor role" in refused.text
    _, refused_csv = await viewer.get("/admin/costs.csv")
    assert refused_csv.status_code == 403


async def test_a_signed_out_browser_is_sent_to_sign_in(app, client):
    _, response = await client.get("/admin/costs", headers=PAGE, follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == "/admin/login?next=/admin/costs"


async def test_day_one_reads_well_and_a_bad_month_falls_back_to_this_one(app, client, cast, conn):
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs?month=2026-13", headers=PAGE)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "No messages in March 2026" in page.text
    assert "the <strong>simulator</strong>, which costs nothing" in page.text
    assert "<svg" not in page.text
    _, future = await client.get("/admin/costs?month=2026-05", headers=PAGE)
    assert "May 2026 has not started yet" in future.text


async def test_simulator_messages_count_but_cost_nothing(app, client, cast, conn):
    learner = add_learner(conn, channel="simulator")
    message(conn, learner, "2026-03-01T06:00:00+00:00", direction="in", estimate=None, channel="simulator")
    message(conn, learner, "2026-03-01T06:00:00+00:00", estimate=None, channel="simulator")
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert "All 2 messages this month went through the <strong>simulator</strong>, which costs nothing" in page.text
    assert "<b>$0.00</b><span>spent so far this month" in page.text


async def test_months_start_at_midnight_in_nairobi_not_utc(app, client, cast, conn):
    learner = add_learner(conn)
    message(conn, learner, "2026-02-28T20:59:59+00:00", estimate=1000)  # 23:59:59 on 28 February in Nairobi
    message(conn, learner, "2026-02-28T21:00:00+00:00", estimate=2000)  # 00:00 on 1 March in Nairobi
    await signed_in(client, "alice@school.test")
    _, march = await client.get("/admin/costs.csv?month=2026-03")
    rows = list(csv.DictReader(io.StringIO(march.content.decode("utf-8-sig"))))
    assert [r["cost_micros"] for r in rows if r["section"] == "month"] == ["2000"]
    days = {r["item"]: r["cost_micros"] for r in rows if r["section"] == "day"}
    assert len(days) == 31 and days["2026-03-01"] == "2000" and days["2026-03-31"] == "0"
    _, february = await client.get("/admin/costs.csv?month=2026-02")
    rows = list(csv.DictReader(io.StringIO(february.content.decode("utf-8-sig"))))
    days = {r["item"]: r["cost_micros"] for r in rows if r["section"] == "day"}
    assert len(days) == 28 and days["2026-02-28"] == "1000"
    _, page = await client.get("/admin/costs?month=2026-02", headers=PAGE)
    assert "spent in February 2026" in page.text and "forecast" not in page.text
    assert 'href="/admin/costs?month=2026-03" rel="next"' in page.text


def test_a_month_follows_daylight_saving_changes():
    london = Month(2026, 3, "Europe/London")  # clocks go forward at 01:00 UTC on 29 March
    days = {day: (start, stop) for day, start, stop in london.days()}
    assert days["2026-03-28"] == ("2026-03-28T00:00:00+00:00", "2026-03-29T00:00:00+00:00")
    assert days["2026-03-29"] == ("2026-03-29T00:00:00+00:00", "2026-03-29T23:00:00+00:00")  # 23 hours
    assert london.stop.isoformat() == "2026-03-31T23:00:00+00:00"
    assert Month(2026, 12, "UTC").next().key == "2027-01" and Month(2026, 1, "UTC").previous().key == "2025-12"
    now = datetime.fromisoformat("2026-02-28T21:30:00+00:00")
    assert chosen_month(None, now, "Africa/Nairobi").key == "2026-03"
    assert chosen_month("1999-01", now, "UTC").key == "2026-02"


def test_money_is_dollars_in_the_orgs_language():
    assert money(1_950_000) == "$1.95"
    assert money(4_500) == "$0.0045"
    assert money(123_456_780_000) == "$123,456.78"
    assert money(1_950_000, "sw") == "US$\xa01.95"
    assert money(1_950_000, "xx-nonsense") == "$1.95"


async def test_the_csv_neutralises_formulas_and_has_days_and_kinds(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, response = await client.get("/admin/costs.csv?month=2026-03")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="costs-2026-03.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["section", "item", "messages"]
    by = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in body}
    assert by[("month", "2026-03")]["cost_usd"] == "0.061000"
    assert by[("day", "2026-03-01")]["messages"] == "6"
    assert by[("kind", "reminder")]["cost_micros"] == "27500"
    assert by[("kind", "quiz")]["actual_micros"] == "9500" and by[("kind", "quiz")]["estimate_micros"] == "9000"
    assert by[("kind", "inbound")]["received"] == "3"
    assert ("class", '\'=HYPERLINK("http://x.test","y")') in by  # a formula becomes text
    assert not any(cell.startswith("=") for row in rows for cell in row)


@pytest.mark.parametrize("budget", ["0.075"])
async def test_a_warning_at_80_percent_of_the_budget(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert '<div class="banner warning" role="status">' in page.text
    assert "81% of this month's budget is spent: $0.061 of $0.075." in page.text
    assert "At 100% nothing is held" in page.text
    assert "banner stop" not in page.text


@pytest.mark.parametrize(("budget", "stop_at_budget"), [("0.06", "true")])
async def test_at_100_percent_the_banner_says_what_is_held_and_what_continues(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert '<div class="banner stop" role="alert">' in page.text
    assert "This month's budget is spent: $0.061 of $0.06 (102%)." in page.text
    assert "<strong>Held until next month:</strong> broadcasts and reminders." in page.text
    assert "<strong>Still going out:</strong> lessons, quizzes, replies" in page.text
    assert "No message is waiting for the budget yet." in page.text
    amina, _ = (row[0] for row in conn.execute("SELECT id FROM learners ORDER BY id"))
    for kind in ("reminder", "reminder", "broadcast"):
        conn.execute(
            """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, error_code, proactive,
                                     next_attempt_at, created_at, updated_at)
               VALUES (?, 'out', 'whatsapp', 'x', 'hi', ?, 'queued', 'budget', 1, '2026-04-01T00:00:00+00:00',
                       '2026-03-02T04:00:00+00:00', '2026-03-02T04:00:00+00:00')""",
            (amina, kind),
        )
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert "Waiting now: 3 messages (reminders 2, broadcasts 1)." in page.text
    # A past month over the budget is history, not an alarm.
    _, february = await client.get("/admin/costs?month=2026-02", headers=PAGE)
    assert "banner" not in february.text


@pytest.mark.parametrize("budget", ["0.06"])
async def test_at_100_percent_without_the_stop_nothing_is_held(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert "banner stop" in page.text and "Nothing is held" in page.text


@pytest.mark.parametrize("budget", ["0.2"])
async def test_a_forecast_over_the_budget_is_said_before_80_percent(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    assert "At this rate the month will cost about $1.87, over the budget of $0.20." in page.text


async def test_a_forecast_takes_the_last_7_days_once_the_box_is_older(app, client, cast, conn):
    learner = add_learner(conn)
    message(conn, learner, "2026-02-20T06:00:00+00:00", estimate=700_000)  # 10 days before now: not in the rate
    message(conn, learner, "2026-02-24T06:00:00+00:00", estimate=70_000)  # in the last 7 days, in February
    message(conn, learner, "2026-03-01T06:00:00+00:00", estimate=140_000)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/costs", headers=PAGE)
    # $0.14 so far + ($0.07 + $0.14) / 7 = $0.03 a day × 29.67 days left = $1.03.
    assert "<b>$1.03</b><span>forecast for the month: so far + the last 7 days' average ($0.03 a day)" in page.text


async def test_the_dashboard_shows_this_months_cost_and_links_to_costs(app, client, cast, conn):
    seed(conn)
    await signed_in(client, "alice@school.test")
    _, page = await client.get("/admin/", headers=PAGE)
    assert "Messaging this month: <strong>$0.061</strong>, <strong>$0.0305</strong> per active learner" in page.text
    assert '<a href="/admin/costs">Costs</a></p>' in page.text


def test_a_chart_scales_to_the_next_round_figure_and_writes_money_on_its_axis():
    # 150 scales to 200 (it scaled to 1,000 before, leaving bars a seventh of the plot); cents scale to 10 cents.
    assert ">200</text>" in charts.bars("t", ["a"], {"n": [150]}) and ">1,000</text>" not in charts.bars(
        "t", ["a"], {"n": [150]}
    )
    small = charts.bars("t", ["a"], {"cost": [0.061]}, fmt=axis_money, tip_fmt=lambda usd: f"{usd:.3f} dollars")
    assert ">$0.1</text>" in small and ">$0.05</text>" in small and "a · cost: 0.061 dollars" in small
    assert axis_money(1500) == "$1.5k" and axis_money(20) == "$20" and axis_money(0) == "$0"
