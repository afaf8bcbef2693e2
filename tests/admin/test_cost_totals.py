"""The Costs page's kept totals (migration 0028): the same figures as adding up every message, whatever is written."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from coachbox import store
from coachbox.admin.costs import Month, load
from coachbox.store import costs
from tests.admin.conftest import add_learner

NOW = datetime(2026, 3, 20, 9, 17, 31, tzinfo=UTC)
DIMENSIONS = ("kind", "category", "course", "class", "channel")
KINDS = ("lesson", "quiz", "reply", "reminder", "nudge", "broadcast", "tutor_ai")
CATEGORIES = (None, "service", "utility", "marketing", "free")


def live(conn, month: Month, now: datetime) -> dict:
    """The page's figures summed over every message, as the page read them before migration 0028."""
    start, stop = month.start.isoformat(), month.stop.isoformat()
    data = costs.breakdowns(conn, start, stop, DIMENSIONS)
    data["days"] = costs.by_day(conn, month.days())
    data["total"] = costs.period_figures(conn, start, stop)
    data["active"] = costs.active_learners(conn, start, stop)
    since = now - timedelta(days=7)
    data["last_days"] = costs.costed_since(conn, since.isoformat(), now.isoformat())
    return data


def agree(conn, month: Month, now: datetime = NOW) -> dict:
    kept, summed = load(conn, month, now), live(conn, month, now)
    for dimension in DIMENSIONS:
        assert sorted(kept[dimension], key=repr) == sorted(summed[dimension], key=repr), dimension
    assert kept["days"] == summed["days"]
    assert kept["total"] == summed["total"]
    assert kept["last_days"] == summed["last_days"]
    assert kept["active"] == summed["active"]
    start, stop = month.start.isoformat(), month.stop.isoformat()  # the dashboard's line (costs.headline)
    assert costs.kept_costed_since(conn, start, stop) == summed["total"]["cost"]
    return kept


def _message(conn, rng: random.Random, learner: int | None, at: datetime) -> None:
    direction = rng.choice(("in", "out", "out"))
    estimate = rng.choice((None, 4000, 5000, 9000, 27500))
    actual = rng.choice((None, None, estimate + rng.randint(-500, 500))) if estimate else None
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, market, cost_category,
                                 cost_estimate_micros, cost_actual_micros, created_at, updated_at)
           VALUES (?, ?, ?, 'whatsapp:+254700000001', 'x', ?, ?, 'KE', ?, ?, ?, ?, ?)""",
        (
            learner,
            direction,
            rng.choice(("whatsapp", "whatsapp", "simulator")),
            "inbound" if direction == "in" else rng.choice(KINDS),
            "received" if direction == "in" else "delivered",
            "free" if direction == "in" and estimate else rng.choice(CATEGORIES),
            estimate,
            actual,
            at.isoformat(),
            at.isoformat(),
        ),
    )


@pytest.fixture
def seeded(tmp_path):
    """Two courses, five classes and none, learners in them; 3,000 messages over February to April at random
    instants (hour and month edges included), then estimates and the providers' prices written later."""
    rng = random.Random(16)
    conn = store.open_database(tmp_path / "coachbox.db")
    courses = [
        conn.execute(
            "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES (?, 'en', ?, '', '')",
            (slug, title),
        ).lastrowid
        for slug, title in (("maths", "Maths basics"), ("money", "Money"))
    ]
    learners = []
    for i in range(40):
        cohort = rng.choice((None, "Form 1", "Form 2", "Form 3", "Chess club", "Form 4"))
        learner = add_learner(conn, name=f"L{i}", phone=f"+2547000{i:05d}", cohort=cohort)
        course = rng.choice((None, *courses))
        conn.execute("UPDATE learners SET current_course_id = ? WHERE id = ?", (course, learner))
        learners.append(learner)
    start = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    edges = [datetime(2026, 2, 28, 21, 0, tzinfo=UTC), datetime(2026, 3, 31, 21, 0, tzinfo=UTC)]
    for _ in range(3000):
        if rng.random() < 0.1:  # right at, or just around, a Nairobi month's edge
            at = rng.choice(edges) + timedelta(microseconds=rng.choice((-1, 0, 1)))
        else:
            at = start + timedelta(seconds=rng.randint(0, 75 * 86400), microseconds=rng.randint(0, 999_999))
        _message(conn, rng, rng.choice((None, *learners)), at)
    ids = [row[0] for row in conn.execute("SELECT id FROM messages")]
    for message_id in rng.sample(ids, 600):  # later: estimates of rows sent without one, prices, categories
        costs.record_estimate(conn, message_id, "KE", rng.choice(("service", "utility")), rng.choice((4000, 9000)))
        costs.record_actual(conn, message_id, rng.choice((None, 3900, 9100)), NOW.isoformat())
    for message_id in rng.sample(ids, 100):
        conn.execute("UPDATE messages SET cost_category = ? WHERE id = ?", (rng.choice(CATEGORIES), message_id))
    for message_id in rng.sample(ids, 50):  # a send moved to another channel, a kind corrected
        conn.execute(
            "UPDATE messages SET channel = ?, kind = ? WHERE id = ? AND direction = 'out'",
            (rng.choice(("whatsapp", "sms")), rng.choice(KINDS), message_id),
        )
    yield conn
    conn.close()


@pytest.mark.parametrize("tz", ["Africa/Nairobi", "UTC", "America/Sao_Paulo", "Europe/London"])
@pytest.mark.parametrize("month", [2, 3, 4])
def test_the_kept_totals_give_the_same_figures_as_every_message(seeded, tz, month):
    kept = agree(seeded, Month(2026, month, tz))
    if month == 3:
        assert kept["total"]["messages"] > 1000 and kept["total"]["with_actual"] > 50 and kept["active"] > 30


def test_a_zone_off_the_hour_reads_the_messages_and_agrees_too(seeded):
    month = Month(2026, 3, "Asia/Kolkata")  # +05:30: local midnights are not on UTC hours
    assert not costs.on_the_hour(month.start.isoformat())
    agree(seeded, month)


@pytest.mark.parametrize("table", ["cost_totals", "active_months"])
def test_the_migration_fills_the_tables_from_the_messages_already_there(seeded, table):
    keep = "WHERE messages > 0" if table == "cost_totals" else ""
    before = seeded.execute(f"SELECT * FROM {table} {keep} ORDER BY 1, 2, 3, 4").fetchall()
    seeded.execute(f"DELETE FROM {table}")
    script = (store.MIGRATIONS_DIR / "0028_cost_totals.sql").read_text()
    (fill,) = [s for s in store._split_sql(script) if s.startswith(f"INSERT INTO {table} ")]
    seeded.execute(fill)
    after = seeded.execute(f"SELECT * FROM {table} {keep} ORDER BY 1, 2, 3, 4").fetchall()
    assert len(before) > 20 and [tuple(r) for r in after] == [tuple(r) for r in before]


def test_a_class_or_course_change_does_not_rewrite_what_was_spent(tmp_path):
    conn = store.open_database(tmp_path / "coachbox.db")
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES ('m', 'en', 'Maths', '', '')"
    ).lastrowid
    amina = add_learner(conn, cohort="Form 2")
    conn.execute("UPDATE learners SET current_course_id = ? WHERE id = ?", (course, amina))
    rng = random.Random(1)
    _message(conn, rng, amina, datetime(2026, 3, 2, 6, tzinfo=UTC))
    sent = conn.execute("SELECT id FROM messages").fetchone()[0]
    conn.execute("UPDATE messages SET direction = 'out', cost_estimate_micros = 9000 WHERE id = ?", (sent,))
    conn.execute("UPDATE learners SET cohort = 'Form 3', current_course_id = NULL WHERE id = ?", (amina,))
    costs.record_actual(conn, sent, 9500, NOW.isoformat())  # the price comes after the move: it stays in Form 2
    month = Month(2026, 3, "Africa/Nairobi")
    data = load(conn, month, NOW)
    assert [(r["label"], r["cost"], r["actual"]) for r in data["class"]] == [("Form 2", 9500, 9500)]
    assert [r["label"] for r in data["course"]] == ["Maths"]
    _message(conn, rng, amina, datetime(2026, 3, 3, 6, tzinfo=UTC))  # a new message counts in the new class
    assert {r["label"] for r in load(conn, month, NOW)["class"]} == {"Form 2", "Form 3"}
    conn.close()


def test_an_erased_learners_messages_stay_in_the_bill(seeded):
    """Erasure deletes a learner's messages (store.learners.erase); what they cost was billed all the same."""
    month = Month(2026, 3, "Africa/Nairobi")
    before = load(seeded, month, NOW)
    learner = seeded.execute("SELECT learner_id FROM messages WHERE learner_id IS NOT NULL LIMIT 1").fetchone()[0]
    seeded.execute("DELETE FROM messages WHERE learner_id = ?", (learner,))
    after = load(seeded, month, NOW)
    assert after["total"] == before["total"] and after["active"] == before["active"]
    assert after["class"] == before["class"] and after["days"] == before["days"]
