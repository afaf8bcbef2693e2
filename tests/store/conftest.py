"""Learners in classes and courses, and the Costs page's kept totals added up again, for the store's write tests."""

from __future__ import annotations

import sqlite3

import pytest

from tests.admin.conftest import add_learner

# cost_totals as 0028 keeps it, added up again from the messages under the class and course each was written with.
_RECOUNT = """SELECT substr(created_at, 1, 13), direction, kind, COALESCE(cost_category, ''), channel, cost_course_id,
                     cost_class, COUNT(*), SUM(cost_estimate_micros IS NOT NULL),
                     COALESCE(SUM(COALESCE(cost_actual_micros, cost_estimate_micros)), 0),
                     COALESCE(SUM(cost_estimate_micros), 0), SUM(cost_actual_micros IS NOT NULL),
                     COALESCE(SUM(cost_actual_micros), 0),
                     COALESCE(SUM(CASE WHEN cost_actual_micros IS NOT NULL THEN cost_estimate_micros END), 0)
              FROM messages GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7"""
_KEPT = """SELECT hour, direction, kind, category, channel, course_id, class, messages, costed, cost, estimate,
                  with_actual, actual, estimate_of_actual
           FROM cost_totals WHERE messages != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7"""


def kept_totals(conn: sqlite3.Connection) -> list[tuple]:
    return [tuple(row) for row in conn.execute(_KEPT)]


def recounted_totals(conn: sqlite3.Connection) -> list[tuple]:
    return [tuple(row) for row in conn.execute(_RECOUNT)]


def noted(conn: sqlite3.Connection, message_id: int) -> tuple:
    """The class and course a message was counted under."""
    row = conn.execute("SELECT cost_class, cost_course_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    return tuple(row)


class Cast:
    """amina: Form 2, in Maths; baraka: no class, in Money; chiku: Form 3, no course."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.maths, self.money = (
            conn.execute(
                "INSERT INTO courses (slug, language, title, created_at, updated_at) VALUES (?, 'en', ?, '', '')",
                (slug, title),
            ).lastrowid
            for slug, title in (("maths", "Maths"), ("money", "Money"))
        )
        self.amina = add_learner(conn, name="Amina", phone="+254700000001", cohort="Form 2")
        self.baraka = add_learner(conn, name="Baraka", phone="+254700000002")
        self.chiku = add_learner(conn, name="Chiku", phone="+254700000003", cohort="Form 3")
        for learner, course in ((self.amina, self.maths), (self.baraka, self.money)):
            conn.execute("UPDATE learners SET current_course_id = ? WHERE id = ?", (course, learner))

    @property
    def everyone(self) -> tuple[int, int, int]:
        return (self.amina, self.baraka, self.chiku)


@pytest.fixture
def cast(conn: sqlite3.Connection) -> Cast:
    return Cast(conn)
