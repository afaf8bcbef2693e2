"""Lean lesson days (issue #19): fewer messages a lesson day, every question still asked, buttons still shown."""

from __future__ import annotations

from datetime import UTC, datetime

from coachbox.conversation.state import State
from coachbox.conversation.texts import Texts
from coachbox.conversation.turn import Reply, Rules, Turn
from coachbox.learning.course import Catalogue
from coachbox.learning.learner import Learner


def _out(driver) -> list:
    return driver.conn.execute(
        "SELECT body, kind, template_key FROM messages WHERE direction = 'out' ORDER BY id"
    ).fetchall()


def _lesson_day(driver) -> tuple[int, int, list]:
    """Onboard, then answer the first lesson's quiz (QUIZ first when invited): (messages out and in from the
    lesson on, the bodies out)."""
    driver.onboard()
    replies = []
    if "*QUIZ*" in _out(driver)[-1]["body"]:
        replies += driver.say("quiz")
    for answer in ("b", "false", "pin"):
        replies += driver.say(answer)
    out = [r["body"] for r in _out(driver)]
    first = next(i for i, body in enumerate(out) if "Lesson 1 of 7" in body)
    sent_in = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0]
    return len(out) - first, sent_in - 5, out[first:]  # onboarding took five messages in


def test_a_lean_day_asks_every_question_in_fewer_messages(driver):
    out, sent_in, bodies = _lesson_day(driver)
    # The lesson and question 1; feedback + question 2; feedback + question 3; feedback, score and badges.
    assert (out, sent_in) == (4, 3)
    assert "Lesson 1 of 7" in bodies[0] and "*Question 1/3*" in bodies[0]
    assert bodies[1].startswith("✅ Correct!") and "*Question 2/3*" in bodies[1]
    assert bodies[2].startswith("✅ Correct!") and "*Question 3/3*" in bodies[2]
    last = bodies[3]
    assert last.startswith("✅ Correct!") and "You scored *3/3*" in last and "New badge: First Step!" in last
    assert "Your next lesson arrives at 07:00" in last


def test_without_lean_days_the_same_day_takes_more_messages(driver):
    driver.settings = driver.settings.replace(learning={"lean_days": False})
    out, sent_in, bodies = _lesson_day(driver)
    # The lesson, its quiz invitation; QUIZ: question 1; two feedbacks with the next question; the last
    # feedback, the score, two badges and what comes next, each a message.
    assert (out, sent_in) == (10, 4)
    assert "Reply *QUIZ* now" in bodies[1]


def test_a_question_keeps_its_buttons_when_folding_would_make_the_message_too_long_for_them(driver):
    # Quick-reply templates configured: this channel shows a question's options as buttons (rules.buttons).
    driver.settings = driver.settings.replace(
        twilio={"templates": {"quick_reply_2": "HX" + "2" * 32, "quick_reply_3": "HX" + "3" * 32}}
    )
    driver.onboard()
    out = _out(driver)
    lesson, question = out[-2], out[-1]
    assert "Lesson 1 of 7" in lesson["body"] and "Question" not in lesson["body"]
    assert question["body"].startswith("📝 *Quiz: What is mobile money?*") and "*Question 1/3*" in question["body"]
    assert len(question["body"]) <= 1024  # short enough for buttons
    replies = driver.say("b")
    assert len(replies) == 1 and "*Question 2/3*" in replies[0]  # feedback and the next question: one message


def test_fold_keeps_the_last_parts_options_and_leaves_templates_and_media_apart():
    def turn(buttons: bool) -> Turn:
        return Turn(
            Learner(id=1),
            Catalogue(),
            Texts({}),
            datetime(2026, 3, 2, tzinfo=UTC),
            Rules(buttons=buttons),
            State(),
        )

    t = turn(False)
    t.replies = [
        Reply("nudge", template="lesson_nudge"),
        Reply("feedback"),
        Reply("next question", options=("A", "B")),
        Reply("picture", media="media/x.jpg"),
        Reply("x" * 1590),
    ]
    t.fold(0)
    assert [(r.text, r.options, r.media) for r in t.replies] == [
        ("nudge", (), None),
        ("feedback\n\nnext question", ("A", "B"), None),
        ("picture", (), "media/x.jpg"),
        ("x" * 1590, (), None),  # 1,600 characters at most
    ]
    long = Reply("y" * 1100)
    question = Reply("question", options=("A", "B"))
    for buttons, expected in ((False, 1), (True, 2)):  # with buttons the question stays apart, keeping them
        t = turn(buttons)
        t.replies = [long, question]
        t.fold(0)
        assert len(t.replies) == expected and t.replies[-1].options == ("A", "B")


def test_a_question_asked_while_the_quiz_is_open_goes_to_the_tutor_and_the_quiz_stays_open(driver):
    """With question 1 open right after the lesson, "what is a PIN?" is the learner's own question, not an
    unreadable answer: it reaches the tutor (as outside a quiz) and the quiz question comes again."""
    driver.onboard()
    replies = driver.say("what is an agent exactly?")
    assert "the answer comes in a moment" in replies[0]
    assert "Your quiz is still open" in "\n".join(replies) and "*Question 1/3*" in replies[-1]
    asked = driver.conn.execute("SELECT question FROM tutor_exchanges").fetchall()
    assert [r[0] for r in asked] == ["what is an agent exactly?"]
    assert "Correct" in driver.say("b")[0]  # the quiz carries on where it was
