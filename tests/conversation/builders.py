"""Small catalogues and learners built in code, for engine tests that need no files or database."""

from __future__ import annotations

from coachbox.learning.course import BadgeDefinition, Catalogue, Course, Lesson, Question


def lesson(course_no: int, position: int, *, questions: int = 3, media: str | None = None) -> Lesson:
    base = course_no * 100 + position * 10
    qs = (
        Question(
            1,
            "choice",
            "Where is mobile money kept?",
            "The provider keeps it.",
            choices=("In the SIM", "With the provider", "At the agent"),
            answer=2,
            id=base + 1,
        ),
        Question(
            2,
            "true_false",
            "A stranger can send your money without the PIN.",
            "The PIN is needed.",
            answer=False,
            id=base + 2,
        ),
        Question(3, "short", "What protects your money?", "Your PIN.", answer=("PIN", "pin number"), id=base + 3),
    )[:questions]
    return Lesson(
        slug=f"l{position}",
        position=position,
        title=f"Lesson {position}",
        body=f"Body of lesson {position}.",
        media=media,
        questions=qs,
        id=base,
    )


def catalogue(lessons: int = 3) -> Catalogue:
    money = Course(
        slug="money",
        title="Money Safety",
        language="en",
        passing_score=70,
        position=1,
        lessons=tuple(lesson(1, p) for p in range(1, lessons + 1)),
        id=1,
    )
    pesa = Course(
        slug="money-sw",
        title="Usalama wa Pesa",
        language="sw",
        translation_of="money",
        position=1,
        lessons=tuple(lesson(2, p) for p in range(1, lessons + 1)),
        id=2,
    )
    python = Course(
        slug="python",
        title="Python Basics",
        language="en",
        premium=True,
        position=2,
        lessons=tuple(lesson(3, p) for p in range(1, 3)),
        id=3,
    )
    badges = (
        BadgeDefinition("first-lesson", "lessons_completed", 1, "🌱", {"en": "First Step", "sw": "Hatua ya Kwanza"}),
        BadgeDefinition("streak-3", "streak", 3, "🔥", {"en": "On a Roll"}),
        BadgeDefinition("perfect-quiz", "perfect_quiz", 1, "💯", {"en": "Perfect Score"}),
        BadgeDefinition("course-complete", "course_complete", 1, "🎓", {"en": "Course Champion"}),
        BadgeDefinition("early-bird", "early_bird", 1, "🐦", {"en": "Early Bird"}),
    )
    return Catalogue(courses=(money, pesa, python), badges=badges)
