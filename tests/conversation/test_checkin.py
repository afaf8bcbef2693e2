"""The course check-in end to end, in English and Kiswahili: before lesson 1, after the last lesson, SKIP, the store."""

from __future__ import annotations

import shutil

import pytest

from coachbox.content.importer import import_folder
from coachbox.store import checkins
from tests.conftest import REPO
from tests.conversation.conftest import Driver

CHECKIN = """
[[checkin]]
kind = "true_false"
question = "{tf}"
answer = false
explanation = "x"

[[checkin]]
kind = "choice"
question = "{choice}"
choices = ["{a}", "{b}"]
answer = 2
explanation = "x"
"""
COURSE_EN = 'title = "Tiny Money"\nlanguage = "en"\nposition = 1\n' + CHECKIN.format(
    tf="Your money is kept inside the SIM card.", choice="Who may know your PIN?", a="The agent", b="Only you"
)
COURSE_SW = 'title = "Pesa Ndogo"\nlanguage = "sw"\nposition = 1\ntranslation_of = "tiny"\n' + CHECKIN.format(
    tf="Pesa yako huhifadhiwa ndani ya SIM.", choice="Nani anaweza kujua PIN yako?", a="Wakala", b="Wewe tu"
)
LESSON = """+++
title = "{title}"

[[quiz]]
kind = "true_false"
question = "{question}"
answer = false
explanation = "{explanation}"
+++
{body}
"""


@pytest.fixture
def content(tmp_path):
    """The repo's locales and one one-lesson course with a two-question check-in, in English and Kiswahili."""
    folder = tmp_path / "content"
    shutil.copytree(REPO / "content" / "locales", folder / "locales")
    for slug, course, lesson in (
        (
            "tiny",
            COURSE_EN,
            LESSON.format(
                title="Your PIN",
                question="You may tell the agent your PIN.",
                explanation="Nobody else, ever.",
                body="Your *PIN* is yours alone.",
            ),
        ),
        (
            "tiny-sw",
            COURSE_SW,
            LESSON.format(
                title="PIN yako",
                question="Unaweza kumwambia wakala PIN yako.",
                explanation="Hakuna mwingine, kamwe.",
                body="*PIN* yako ni yako peke yako.",
            ),
        ),
    ):
        (folder / "courses" / slug).mkdir(parents=True)
        if slug == "tiny":  # a second English course with a check-in, for learners who choose it later
            (folder / "courses" / "tiny-two").mkdir()
            (folder / "courses" / "tiny-two" / "course.toml").write_text(
                course.replace("Tiny Money", "Tiny Two").replace("position = 1", "position = 2"), encoding="utf-8"
            )
            (folder / "courses" / "tiny-two" / "01-pin.md").write_text(lesson, encoding="utf-8")
        (folder / "courses" / slug / "course.toml").write_text(course, encoding="utf-8")
        (folder / "courses" / slug / "01-pin.md").write_text(lesson, encoding="utf-8")
    return folder


@pytest.fixture
def learner(conn, cache, settings, clock, content):
    import_folder(conn, content, settings, progress=None)
    return Driver(conn, cache, settings, clock)


def _answers(conn, learner_id):
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT phase, position, given, correct FROM checkin_answers WHERE learner_id = ? ORDER BY id",
            (learner_id,),
        )
    ]


def test_the_check_in_comes_before_lesson_1_and_after_the_last_in_english(learner, conn):
    replies = learner.onboard()
    assert "All set" in replies[0]
    intro = replies[-1]
    assert "2 quick questions" in intro and "No marks" in intro and "*SKIP*" in intro
    assert "Your money is kept inside the SIM card." in intro
    assert not any("Lesson 1" in r for r in replies)  # the lesson waits for the check-in
    assert learner.say("true") == [
        "👍 Noted.\n\n*Question 2/2*\nWho may know your PIN?\n\n*A* The agent\n*B* Only you\n\nReply A or B."
    ]
    replies = learner.say("B")
    assert replies[0] == "🙏 Thank you! Now your first lesson."
    assert "*Your PIN*" in replies[1]
    assert not any("Correct" in r or "Not quite" in r for r in replies)  # never marked before the lesson
    assert _answers(conn, learner.learner_id) == [("before", 1, "true", 0), ("before", 2, "B", 1)]

    # lean days: the lesson's last message asked the quiz's only question
    replies = learner.say("false")  # the last lesson's last answer finishes the course
    text = "\n".join(replies)
    assert "You finished Tiny Money!" in text
    assert "the *same 2 quick questions* as at the start" in replies[-1]
    assert "Reply *COURSES*" not in text  # the check-in says it at its end
    learner.say("false")
    replies = learner.say("B")
    assert replies[0] == (
        "🙏 Thank you! This time you got *2 of 2* right. Your teacher uses these answers to see how the course "
        "works for everyone."
    )
    assert "Reply *COURSES* to start another course" in replies[-1]
    assert _answers(conn, learner.learner_id)[2:] == [("after", 1, "false", 1), ("after", 2, "B", 1)]
    gain = checkins.learning_gain(conn, learner.learner()["current_course_id"], 2)
    assert [(g.cohort, g.learners, g.right_before, g.right_after, g.answers) for g in gain] == [
        (None, 1, 1, 2, 2),
        ("", 1, 1, 2, 2),
    ]
    assert gain[0].gain_points == 50


def test_a_swahili_learner_gets_it_in_kiswahili_and_can_skip_the_rest(learner, conn):
    replies = learner.onboard(language="2")
    intro = replies[-1]
    assert replies[-2].startswith("Tayari! ✅") and "Kwanza, jambo fupi 👇" in replies[-2]
    assert "maswali 2 mafupi" in intro and "Hakuna alama" in intro and "*RUKA*" in intro
    assert "Pesa yako huhifadhiwa ndani ya SIM." in intro
    assert learner.say("kweli")[0].startswith("👍 Nimepokea.\n\n*Swali 2/2*\nNani anaweza kujua PIN yako?")
    replies = learner.say("RUKA")
    assert replies[0] == "👍 Sawa, tutayaruka. Sasa somo lako la kwanza."
    assert "*PIN yako*" in replies[1]
    assert _answers(conn, learner.learner_id) == [("before", 1, "true", 0)]  # what was answered stays

    replies = learner.say("si kweli")  # the lesson asked its quiz's question
    assert "maswali 2 yale yale" in replies[-1]
    replies = learner.say("kweli")
    assert replies[0].startswith("👍 Nimepokea.\n\n*Swali 2/2*\nNani anaweza kujua PIN yako?")
    replies = learner.say("A")
    assert replies[0].startswith("🙏 Asante! Safari hii umepata *0 kati ya 2* sahihi.")
    assert "Jibu *KOZI*" in replies[-1]
    assert _answers(conn, learner.learner_id)[1:] == [("after", 1, "true", 0), ("after", 2, "A", 0)]
    # Half the check-in before lesson 1: the learner counts as neither "both" nor "before only".
    assert checkins.learning_gain(conn, learner.learner()["current_course_id"], 2) == []


def test_a_learner_who_skipped_it_at_the_start_is_not_asked_it_at_the_end(learner, conn):
    learner.onboard()
    assert learner.say("SKIP")[0] == "👍 No problem, we'll skip them. Now your first lesson."
    replies = learner.say("false")
    assert "You finished Tiny Money!" in "\n".join(replies)
    assert "Reply *COURSES* to start another course" in replies[-1]
    assert not any("quick questions" in r for r in replies)
    assert _answers(conn, learner.learner_id) == []


def test_next_skips_the_check_in_and_help_shows_the_question_again(learner, conn):
    learner.onboard()
    replies = learner.say("HELP")
    assert "Your check-in questions are still open 👇" in replies[-2]
    assert "Your money is kept inside the SIM card." in replies[-1]
    assert learner.say("maybe")[0].startswith("Hmm, I didn't catch that")  # unclear: asked again, not recorded
    replies = learner.say("NEXT")
    assert replies[0] == "👍 No problem, we'll skip them. Now your first lesson."
    assert _answers(conn, learner.learner_id) == []


def test_the_learning_gain_counts_each_class_and_only_learners_who_did_both(conn, cache, settings, clock, content):
    import_folder(conn, content, settings, progress=None)
    course_id = conn.execute("SELECT id FROM courses WHERE slug = 'tiny'").fetchone()[0]
    plans = {  # phone: (class, right before, right after or None when they never did it after)
        "+254700000001": ("Form 2A", (0, 1), (1, 1)),
        "+254700000002": ("Form 2A", (0, 0), (1, 0)),
        "+254700000003": ("Form 2B", (1, 1), (1, 1)),
        "+254700000004": ("Form 2B", (0, 0), None),
    }
    for phone, (cohort, before, after) in plans.items():
        driver = Driver(conn, cache, settings, clock, phone=phone)
        driver.onboard()
        conn.execute("UPDATE learners SET cohort = ? WHERE id = ?", (cohort, driver.learner_id))
        for phase, rights in (("before", before), ("after", after)):
            for position, right in enumerate(rights or (), start=1):
                checkins.record_answer(
                    conn, driver.learner_id, course_id, phase, position, "x", bool(right), clock.now()
                )
    gain = {g.cohort: g for g in checkins.learning_gain(conn, course_id, 2)}
    assert (gain[None].learners, gain[None].right_before, gain[None].right_after, gain[None].before_only) == (
        3,
        3,
        5,
        1,
    )
    assert (gain["Form 2A"].share_before, gain["Form 2A"].share_after) == (0.25, 0.75)
    assert (gain["Form 2B"].learners, gain["Form 2B"].before_only, gain["Form 2B"].gain_points) == (1, 1, 0)


def test_the_check_in_moves_with_the_learner_to_the_translation(learner, conn):
    learner.onboard()
    learner.say("true")
    learner.say("B")  # the check-in before lesson 1, in English; lesson 1 follows
    learner.say("LANGUAGE")
    learner.say("2")  # Kiswahili: the course carries on as its translation
    swahili = conn.execute("SELECT id FROM courses WHERE slug = 'tiny-sw'").fetchone()[0]
    assert learner.learner()["current_course_id"] == swahili
    assert {r[0] for r in conn.execute("SELECT course_id FROM checkin_answers")} == {swahili}
    learner.say("jaribio")
    replies = learner.say("si kweli")
    assert "maswali 2 yale yale" in replies[-1]  # asked again after the last lesson, in the new language


def test_a_course_chosen_later_asks_its_check_in_and_keeps_its_lesson_for_the_lesson_time(learner, conn):
    learner.onboard()
    learner.say("SKIP")
    learner.say("yes")
    learner.say("false")  # Tiny Money finished
    learner.say("COURSES")
    replies = learner.say("2")
    assert replies[0].startswith("✅ Switched to *Tiny Two*") or "Tiny Two" in replies[0]
    assert "📋 Before lesson 1: *2 quick questions*" in replies[-1] and "*Tiny Two*" in replies[-1]
    learner.say("false")
    replies = learner.say("B")
    assert replies == ["🙏 Thank you! Your first lesson of *Tiny Two* comes at *07:00*."]
    two = conn.execute("SELECT id FROM courses WHERE slug = 'tiny-two'").fetchone()[0]
    assert [r[:2] for r in _answers(conn, learner.learner_id)] == [("before", 1), ("before", 2)]
    assert {r[0] for r in conn.execute("SELECT course_id FROM checkin_answers")} == {two}
    learner.say("COURSES")
    assert not any("quick questions" in r for r in learner.say("2"))  # chosen again: not asked twice


def test_next_in_the_check_in_of_a_course_chosen_later_sends_its_lesson_now(learner, conn):
    learner.onboard()
    learner.say("SKIP")
    learner.say("yes")
    learner.say("false")
    learner.say("COURSES")
    assert "reply *NEXT* to start now" in learner.say("2")[0]
    replies = learner.say("NEXT")
    assert replies[0] == "👍 No problem, we'll skip them."
    assert "*Your PIN*" in replies[1]  # Tiny Two's lesson 1, now
