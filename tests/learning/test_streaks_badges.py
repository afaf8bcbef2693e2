"""Streaks with freezes, badges from definitions, and progress arithmetic."""

from coachbox.learning.badges import Achievement, new_badges
from coachbox.learning.course import BadgeDefinition, Course, Lesson
from coachbox.learning.progress import LessonResult, course_progress, percent
from coachbox.learning.streaks import Streak, current_streak, record_completion


def walk(days, every=7):
    streak = Streak()
    changes = []
    for day in days:
        change = record_completion(streak, day, freeze_every_days=every)
        streak = change.streak
        changes.append(change)
    return streak, changes


def test_it_counts_consecutive_local_days_once_each():
    streak, _ = walk(["2026-03-01", "2026-03-02", "2026-03-02", "2026-03-03"])
    assert (streak.current, streak.best) == (3, 3)


def test_it_restarts_after_a_gap_without_a_freeze():
    streak, _ = walk(["2026-03-01", "2026-03-02", "2026-03-04"])
    assert (streak.current, streak.best) == (1, 2)


def test_it_earns_a_freeze_every_n_days_and_spends_it_on_one_missed_day():
    streak, changes = walk(["2026-03-01", "2026-03-02", "2026-03-03"], every=3)
    assert changes[-1].freeze_earned and streak.freezes == 1
    streak = record_completion(streak, "2026-03-05", freeze_every_days=3)
    assert streak.freeze_used and streak.streak.current == 4 and streak.streak.freezes == 0


def test_it_shows_a_broken_streak_as_zero():
    streak, _ = walk(["2026-03-01", "2026-03-02"])
    assert current_streak(streak, "2026-03-03") == 2
    assert current_streak(streak, "2026-03-05") == 0


BADGES = (
    BadgeDefinition("first", "lessons_completed", 1),
    BadgeDefinition("five", "lessons_completed", 5),
    BadgeDefinition("s3", "streak", 3),
    BadgeDefinition("perfect", "perfect_quiz"),
    BadgeDefinition("done", "course_complete"),
    BadgeDefinition("early", "early_bird"),
)


def test_it_awards_badges_by_rule_once():
    done = Achievement(lessons_completed=1, streak=3, perfect_quiz=True, course_completed=False, local_hour=7)
    assert [b.code for b in new_badges(BADGES, done, [])] == ["first", "s3", "perfect", "early"]
    assert [b.code for b in new_badges(BADGES, done, ["first", "s3", "perfect"])] == ["early"]
    late = Achievement(lessons_completed=5, streak=1, perfect_quiz=False, course_completed=True, local_hour=8)
    assert [b.code for b in new_badges(BADGES, late, ["first"])] == ["five", "done"]


def test_it_computes_course_progress_and_certificate_eligibility():
    course = Course(
        "c", "C", "en", passing_score=70, id=1, lessons=tuple(Lesson(f"l{i}", i, "t", "b", id=i) for i in (1, 2))
    )
    results = [LessonResult(1, 1, 3, 3, True), LessonResult(2, 1, 0, 3, False)]
    progress = course_progress(course, results)
    assert (progress.done, progress.total, progress.score, progress.complete) == (2, 2, 50, True)
    assert not progress.certificate_eligible  # 3 of 6 right, one lesson failed
    # Every lesson passed at 2 of 3 is 67 % overall: the course is passed (the same rule as each quiz).
    two_of_three = [LessonResult(1, 1, 2, 3, True), LessonResult(2, 1, 2, 3, True)]
    assert course_progress(course, two_of_three).certificate_eligible
    # 4 of 6 overall passes by the course's answers (needed_to_pass(6, 70) is 4), even with one lesson failed.
    assert course_progress(
        course, [LessonResult(1, 1, 3, 3, True), LessonResult(2, 1, 1, 3, False)]
    ).certificate_eligible
    assert not course_progress(course, results[:1]).certificate_eligible  # not finished
    assert percent(2, 3) == 67 and percent(0, 0) == 100
