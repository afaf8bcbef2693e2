"""The pass rule: the mark read as a number of questions, the same way for every quiz length; retries; comebacks."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from coachbox.learning.progress import LessonResult, needed_to_pass, passed, retry_questions, retry_score
from coachbox.learning.streaks import Streak, welcome_back_due
from tests.conftest import REPO


def test_two_of_three_passes_at_70_percent():
    assert passed(2, 3, 70) and not passed(1, 3, 70)
    assert passed(7, 10, 70) and not passed(6, 10, 70)
    assert needed_to_pass(3, 100) == 3 and needed_to_pass(0, 70) == 0 and needed_to_pass(5, 0) == 0


def test_the_table_in_docs_content_md_is_the_rule():
    text = (REPO / "docs" / "content.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (?:right to pass )?at \**(\d+) %\** \| ([\d |]+) \|$", text, flags=re.MULTILINE))
    assert set(rows) == {"50", "70", "80", "100"}
    for mark, cells in rows.items():
        assert [int(c) for c in cells.split("|")] == [needed_to_pass(n, int(mark)) for n in range(1, 11)], mark


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=100))
def test_it_is_the_nearest_whole_question_to_the_mark_and_at_least_one(total, mark):
    needed = needed_to_pass(total, mark)
    assert 1 <= needed <= total
    exact = mark * total / 100
    assert needed - 0.5 <= exact or needed == 1  # never more than half a question above the mark
    assert exact <= needed + 0.5  # never more than half a question below it (a half goes to the learner)
    assert needed_to_pass(total, min(100, mark + 1)) >= needed  # a higher mark never needs fewer


def test_a_retry_asks_only_what_was_missed_on_a_failed_lesson():
    failed = LessonResult(10, 1, 1, 3, False, "2026-03-02", missed=(13, 11))
    assert retry_questions(failed, [11, 12, 13]) == (11, 13)  # in lesson order
    assert retry_questions(failed, [11, 12, 14]) == (11,)  # a question gone from the lesson is not asked
    assert retry_questions(None, [11, 12, 13]) == ()
    assert retry_questions(LessonResult(10, 1, 2, 3, True, missed=(11,)), [11, 12, 13]) == ()  # passed: all
    assert retry_questions(LessonResult(10, 1, 1, 3, False), [11, 12, 13]) == ()  # from before 0016: all
    assert retry_questions(LessonResult(10, 1, 0, 3, False, missed=(11, 12, 13)), [11, 12, 13]) == ()  # all missed
    assert retry_score(3, 1) == 2 and passed(retry_score(3, 1), 3, 70)


def test_a_learner_is_welcomed_back_once_after_a_lapse_a_freeze_did_not_cover():
    streak = Streak(current=4, best=6, freezes=0, last_active_date="2026-03-02")
    assert not welcome_back_due(streak, "2026-03-03", None)  # the next day: the streak goes on
    assert welcome_back_due(streak, "2026-03-04", None)  # a day missed
    assert not welcome_back_due(streak, "2026-03-09", "2026-03-05")  # welcomed already since the last lesson
    assert welcome_back_due(streak, "2026-03-09", "2026-03-02")  # welcomed before that lesson: a new return
    frozen = Streak(current=4, best=6, freezes=1, last_active_date="2026-03-02")
    assert not welcome_back_due(frozen, "2026-03-04", None)  # the freeze keeps the streak: nothing to welcome
    assert welcome_back_due(frozen, "2026-03-05", None)
    assert not welcome_back_due(Streak(), "2026-03-05", None)  # never finished a lesson: nothing to come back to
