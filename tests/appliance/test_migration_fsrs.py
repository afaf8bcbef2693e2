"""Migration 0015: SM-2 review items of every shape become FSRS cards, and nobody loses a due question."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from coachbox import store
from coachbox.learning.review import AGAIN, GOOD, from_sm2
from coachbox.store import reviews

NOW = datetime.fromisoformat("2026-03-02T05:00:00+00:00")

# name: (due_at offset in days from NOW, interval_days, ease, repetitions, lapses, last review: days before due or None)
SHAPES = {
    "new": (0.1, 1.0, 2.5, 0, 0, None),  # a row from before 0008: the 0001 defaults, no last review
    "due_today": (-0.05, 1.0, 1.96, 0, 1, 1.0),  # wrong yesterday at 04:55 (SM-2 quality 1 once)
    "overdue": (-10.0, 6.0, 1.82, 2, 1, 6.0),  # due ten days ago, never answered
    "lapsed": (0.5, 1.0, 1.3, 0, 4, 1.0),  # wrong again and again: ease at its floor
    "far_future": (100.0, 120.0, 2.36, 5, 1, 120.0),  # well learned
    "zero_interval": (0.0, 0.0, 2.5, 0, 0, None),  # an odd row: interval 0 must not divide by zero
}


def _old_box(tmp_path):
    """A database at migration 0014 with real-shaped SM-2 rows: one learner per shape, one course of 6 questions."""
    conn = store.connect(tmp_path / "coachbox.db")
    names = [m.name for m in store.migrations().pending(sqlite_utils.Database(memory=True))]
    store.migrations().apply(sqlite_utils.Database(conn), stop_before="0015_fsrs_review")
    assert store.applied_migrations(conn)[-1] == "0014_message_sends" and "0015_fsrs_review" in names
    x = "2026-01-01T00:00:00+00:00"
    course = conn.execute(
        "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES ('c', 'en', 'C', ?, ?)", (x, x)
    ).lastrowid
    lesson = conn.execute(
        """INSERT INTO lessons (course_id, slug, position, title, body, created_at, updated_at)
           VALUES (?, 'l1', 1, 'L1', 'body', ?, ?)""",
        (course, x, x),
    ).lastrowid
    questions = [
        conn.execute(
            "INSERT INTO questions (lesson_id, position, kind, prompt, answer) VALUES (?, ?, 'true_false', 'Q', 'true')",
            (lesson, n),
        ).lastrowid
        for n in range(len(SHAPES))
    ]
    rows = {}
    for n, (name, (due, interval, ease, reps, lapses, last)) in enumerate(SHAPES.items()):
        learner = conn.execute(
            "INSERT INTO learners (channel_key, timezone, created_at, updated_at) VALUES (?, 'Africa/Nairobi', ?, ?)",
            (f"sim:+2547000000{n:02d}", x, x),
        ).lastrowid
        due_at = NOW + timedelta(days=due)
        last_at = (due_at - timedelta(days=last)).isoformat() if last is not None else None
        for question in questions[:2] if name == "due_today" else questions[n : n + 1]:
            conn.execute(
                """INSERT INTO review_items (learner_id, question_id, due_at, interval_days, ease, repetitions, lapses,
                                            last_reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (learner, question, due_at.isoformat(), interval, ease, reps, lapses, last_at),
            )
        rows[name] = (learner, questions[n] if name != "due_today" else questions[0])
    return conn, rows


def _items(conn):
    return {
        (r["learner_id"], r["question_id"]): dict(r)
        for r in conn.execute("SELECT * FROM review_items ORDER BY learner_id, question_id")
    }


def test_it_turns_every_sm2_item_into_an_fsrs_card_and_keeps_every_due_date(tmp_path):
    conn, rows = _old_box(tmp_path)
    before = _items(conn)
    zones = {learner: "Africa/Nairobi" for learner, _ in rows.values()}
    due_before = reviews.due_reviews(conn, zones, NOW, limit=3)
    assert {learner for learner, _ in (rows["due_today"], rows["overdue"])} <= set(due_before)

    assert "0015_fsrs_review" in store.migrate(conn)

    after = _items(conn)
    assert after.keys() == before.keys()  # not one item lost
    for key, old in before.items():
        new = after[key]
        assert new["due_at"] == old["due_at"]  # nothing comes early, nothing is dropped
        assert (new["repetitions"], new["lapses"], new["last_reviewed_at"]) == (
            old["repetitions"],
            old["lapses"],
            old["last_reviewed_at"],
        )
        stability, difficulty = from_sm2(old["interval_days"], old["ease"])  # the SQL and Python agree
        assert abs(new["stability"] - stability) < 1e-9 and abs(new["difficulty"] - difficulty) < 1e-9
        assert 1 <= new["difficulty"] <= 10 and new["stability"] > 0
    # Sensible: stability is the SM-2 interval (FSRS asks at 90 % after `stability` days: the pace stays), and a
    # lower ease (more trouble) is a harder card.
    card = {name: after[key] for name, key in rows.items()}
    assert card["far_future"]["stability"] == 120.0 and card["overdue"]["stability"] == 6.0
    assert card["lapsed"]["difficulty"] > card["due_today"]["difficulty"] > card["far_future"]["difficulty"]
    assert card["lapsed"]["difficulty"] > 9.9 and abs(card["due_today"]["difficulty"] - 6.416) < 1e-9
    assert card["zero_interval"]["stability"] == 0.01
    # The learners with questions due have the same questions due, in the same order.
    assert reviews.due_reviews(conn, zones, NOW, limit=3) == due_before


def test_a_migrated_card_goes_on_through_fsrs_with_a_sensible_prediction(tmp_path):
    conn, rows = _old_box(tmp_path)
    store.migrate(conn)
    # Overdue by ten days on a six-day interval: recall is predicted below 90 %; a right answer grows the card.
    learner, question = rows["overdue"]
    card = reviews.record_review(conn, learner, question, GOOD, NOW)
    logged = conn.execute("SELECT * FROM review_log WHERE learner_id = ?", (learner,)).fetchone()
    assert 0.5 < logged["retrievability"] < 0.9 and logged["elapsed_days"] == 16.0
    assert logged["stability_before"] == 6.0 and card.stability is not None and card.stability > 6.0
    assert card.due > NOW + timedelta(days=6)
    # A far-future card reviewed early is predicted above 90 %.
    learner, question = rows["far_future"]
    reviews.record_review(conn, learner, question, GOOD, NOW)
    early = conn.execute("SELECT retrievability FROM review_log WHERE learner_id = ?", (learner,)).fetchone()[0]
    assert early > 0.9
    # A row from before 0008 has no last review: its interval is taken to end at its due date.
    learner, question = rows["new"]
    reviews.record_review(conn, learner, question, AGAIN, NOW)
    logged = conn.execute("SELECT * FROM review_log WHERE learner_id = ?", (learner,)).fetchone()
    assert logged["elapsed_days"] == 1.0 and 0.85 < logged["retrievability"] < 0.95 and logged["rating"] == AGAIN
    item = conn.execute(
        "SELECT due_at, lapses FROM review_items WHERE learner_id = ? AND question_id = ?", (learner, question)
    ).fetchone()
    assert item["lapses"] == 1 and item["due_at"] == (NOW + timedelta(days=1)).isoformat()
