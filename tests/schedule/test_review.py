"""Spaced repetition: wrong answers come back as a short review before later lessons, asked and graded in the
conversation (FSRS-6 cards updated in the same turn, every review logged), in the learner's language."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from coachbox.content.importer import import_folder
from coachbox.conversation.events import DeliverDailyLesson
from coachbox.core.clock import FakeClock
from coachbox.learning.review import AGAIN, GOOD, HARD, Card, rating, retried, review
from coachbox.schedule.coach import Coach
from coachbox.schedule.daily import run_daily_lessons
from coachbox.store import progress, transaction
from coachbox.store.reviews import ingest_answers, record_review
from coachbox.turns import sessions
from tests.schedule.conftest import Box

WRONG = AGAIN


def _days(card: Card) -> float:
    assert card.last_review is not None
    return (card.due - card.last_review).total_seconds() / 86400


def test_it_maps_answers_to_fsrs_ratings_in_one_place():
    assert rating(False) == rating(False, helped=True) == AGAIN  # wrong, whatever came before
    assert rating(True) == GOOD  # right at the first try
    assert rating(True, helped=True) == HARD  # right after a retry (a re-prompt); there are no hints
    wrong = review(None, AGAIN, datetime.fromisoformat("2026-03-02T04:05:00+00:00")).card
    assert retried(wrong, wrong.last_review + timedelta(hours=1))  # a retake of the quiz it was missed in
    assert not retried(wrong, wrong.last_review + timedelta(hours=13)) and not retried(None, wrong.due)
    recalled = review(wrong, GOOD, wrong.due).card
    assert not retried(recalled, recalled.last_review + timedelta(hours=1))  # its last answer was right


def test_it_schedules_with_fsrs_and_grows_the_interval_on_each_recall():
    start = datetime.fromisoformat("2026-03-02T04:05:00+00:00")
    wrong = review(None, AGAIN, start)
    assert wrong.retrievability is None and wrong.before is None  # a new card predicts nothing
    assert (_days(wrong.card), wrong.card.repetitions, wrong.card.lapses) == (1.0, 0, 1)  # back tomorrow
    good = review(wrong.card, GOOD, wrong.card.due)
    hard = review(wrong.card, HARD, wrong.card.due)
    assert 0 < good.retrievability < 1 and good.elapsed_days == 1.0
    assert _days(hard.card) < _days(good.card) and hard.card.difficulty > good.card.difficulty  # a weaker recall
    second = review(good.card, GOOD, good.card.due)
    third = review(second.card, GOOD, second.card.due)
    assert _days(wrong.card) < _days(good.card) < _days(second.card) < _days(third.card)
    assert abs(second.retrievability - 0.9) < 0.05  # asked when recall is predicted to have fallen to 90 %
    lapse = review(third.card, AGAIN, third.card.due)
    assert lapse.card.stability < third.card.stability / 4 and _days(lapse.card) <= 2  # forgotten: back soon
    assert lapse.card.lapses == 2 and lapse.card.repetitions == 0
    # The desired retention is the knob: asking at 80 % waits longer than at 95 %.
    low = review(wrong.card, GOOD, wrong.card.due, desired_retention=0.8)
    high = review(wrong.card, GOOD, wrong.card.due, desired_retention=0.95)
    assert _days(high.card) < _days(good.card) < _days(low.card)
    # Same answers, same schedule (no fuzz), and the card's clock is the one passed in, never the wall clock.
    assert review(wrong.card, GOOD, wrong.card.due).card == good.card


def _morning(box, clock, day, *, window=True):
    """07:00 Nairobi. window: the learners wrote at 06:00, so their WhatsApp window stays open (these tests are
    about the review; outside the window the day waits for a reply to the nudge: the last tests)."""
    clock.set(f"2026-03-{day:02d}T04:00:30+00:00")
    if window:
        box.conn.execute("UPDATE learners SET last_inbound_at = ?", (f"2026-03-{day:02d}T03:00:00+00:00",))
    run_daily_lessons(box.conn, box.coach, clock.now())


def _today(box, learner, day, kind=None):
    return [r for r in box.outbox(learner, kind=kind) if r["created_at"].startswith(f"2026-03-{day:02d}")]


def _questions(box, position=1):
    return [
        r[0]
        for r in box.conn.execute(
            """SELECT q.id FROM questions q JOIN lessons l ON l.id = q.lesson_id
           WHERE l.course_id = ? AND l.position = ? ORDER BY q.position""",
            (box.course_id, position),
        )
    ]


def _item(box, learner, question_id):
    return box.conn.execute(
        "SELECT * FROM review_items WHERE learner_id = ? AND question_id = ?", (learner, question_id)
    ).fetchone()


def _delivered(box, learner, position):
    return box.conn.execute(
        """SELECT p.delivered_at FROM progress p JOIN lessons l ON l.id = p.lesson_id
           WHERE p.learner_id = ? AND l.course_id = ? AND l.position = ?""",
        (learner, box.course_id, position),
    ).fetchone()


def _quiz_day_two(box, clock, learner, answers):
    """Lesson 1 on 2 March at 07:00, its quiz at 07:05 with these answers, then the review job."""
    _morning(box, clock, 2)
    clock.advance(minutes=5)
    for text in ("quiz", *answers):
        box.say(learner, text, clock.now())
    ingest_answers(box.conn, clock.now())


def test_it_asks_a_wrong_answer_again_before_later_lessons_and_grows_the_interval(box):
    learner = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    first, _, _ = _questions(box)
    _quiz_day_two(box, clock, learner, ["A", "false", "PIN"])  # the first wrong
    assert _item(box, learner, first)["due_at"].startswith("2026-03-03T04:05")

    # 3 March: the daily turn asks the question instead of sending lesson 2, which waits for the review. The
    # learner wrote at 06:30, so the window stays open: greeting and question are one message.
    clock.set("2026-03-03T03:30:00+00:00")
    box.say(learner, "hello", clock.now())
    _morning(box, clock, 3)
    asked = _today(box, learner, 3)[-1]
    assert asked["kind"] == "review" and "Good day, Amina! Before today's lesson" in asked["body"]
    assert "*quick review*" in asked["body"] and "*Review 1/1*" in asked["body"]
    assert "Where is your mobile money actually kept?" in asked["body"] and "Reply A, B or C" in asked["body"]
    assert _delivered(box, learner, 2) is None
    assert [r["status"] for r in box.deliveries(learner, "review")] == ["pending"]

    # A right answer by letter, at first try: Good; FSRS's interval grows past a day, then lesson 2.
    clock.advance(minutes=2)
    replies = box.say(learner, "b", clock.now())
    assert replies[0].startswith("✅ Correct!") and "Review done" in replies[-1] and "Lesson 2 of 7" in replies[-1]
    card = _item(box, learner, first)
    assert (card["repetitions"], card["interval_days"]) == (1, 2.0)
    assert card["due_at"].startswith("2026-03-05T04:02")
    [logged] = box.conn.execute(
        "SELECT * FROM review_log WHERE learner_id = ? AND source = 'review'", (learner,)
    ).fetchall()
    assert logged["rating"] == GOOD and 0 < logged["retrievability"] < 1 and logged["due_after"] == card["due_at"]
    assert _delivered(box, learner, 2) is not None
    assert [r["status"] for r in box.deliveries(learner, "review")] == ["done"]
    assert box.deliveries(learner, "quiz_followup") == []  # lean days: lesson 2's quiz started with it

    # 4 March: nothing due; 5 March: right again (by the choice's text): the interval grows to 6 days.
    _morning(box, clock, 4)
    assert not _today(box, learner, 4, kind="review")
    _morning(box, clock, 5)
    clock.advance(minutes=1)
    box.say(learner, "with the mobile money provider, linked to your number", clock.now())
    card = _item(box, learner, first)
    assert (card["repetitions"], card["interval_days"]) == (2, 6.0)
    assert card["due_at"].startswith("2026-03-11")
    for day in range(6, 11):
        _morning(box, clock, day)
        assert not _today(box, learner, day, kind="review")

    # 11 March: due again, answered wrong: the card lapses back to one day.
    box.restart_course(learner)  # the sample course has 7 lessons: give the review a lesson to precede
    _morning(box, clock, 11)
    assert "*Review 1/1*" in _today(box, learner, 11, kind="review")[-1]["body"]
    clock.advance(minutes=1)
    replies = box.say(learner, "1", clock.now())
    assert replies[0].startswith("❌ Not quite. The answer is *B) With the mobile money provider")
    card = _item(box, learner, first)
    assert (card["repetitions"], card["interval_days"], card["lapses"]) == (0, 1.0, 2)
    assert card["due_at"].startswith("2026-03-12")


def test_it_asks_in_kiswahili_and_survives_a_lost_session(box):
    learner = box.learner(language="sw")
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    first, second, _ = _questions(box)
    _quiz_day_two(box, clock, learner, ["A", "kweli", "PIN"])  # "jaribio" would do too; the first two wrong
    _morning(box, clock, 3)
    asked = _today(box, learner, 3)[-1]
    assert "Maswali yaliyokupa shida awali" in asked["body"] and "*Marudio 1/2*" in asked["body"]
    clock.advance(minutes=1)
    replies = box.say(learner, "B", clock.now())
    assert replies[0].startswith("✅ Sahihi!") and "*Marudio 2/2*" in replies[0]
    assert "Jibu *KWELI* au *SI KWELI*" in replies[0]
    sessions.forget(box.conn, learner)  # the session is lost: the review is rebuilt from the database
    clock.advance(minutes=1)
    replies = box.say(learner, "si kweli", clock.now())
    assert replies[0].startswith("✅ Sahihi!") and "Marudio yamekamilika" in replies[0]  # one message (lean)
    assert "Somo 2 kati ya 7" in replies[0]
    assert _item(box, learner, second)["repetitions"] == 1


def test_it_reprompts_an_unclear_review_answer_and_grades_it_as_a_harder_recall(box):
    learner = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    first, _, _ = _questions(box)
    _quiz_day_two(box, clock, learner, ["A", "false", "PIN"])
    before = _item(box, learner, first)
    _morning(box, clock, 3)
    clock.advance(minutes=1)
    [unclear] = box.say(learner, "hmm, maybe", clock.now())
    assert "didn't catch that" in unclear and "Not quite" not in unclear
    assert _item(box, learner, first)["due_at"] == before["due_at"]  # never a wrong mark
    [again] = box.say(learner, "no idea", clock.now())
    assert "SKIP" in again
    box.say(learner, "B", clock.now())
    card = _item(box, learner, first)
    logged = box.conn.execute("SELECT rating FROM review_log WHERE source = 'review'").fetchall()
    assert card["repetitions"] == 1 and [r[0] for r in logged] == [HARD]  # right after a re-prompt: a retry
    expected = review(
        Card(
            due=datetime.fromisoformat(before["due_at"]),
            stability=before["stability"],
            difficulty=before["difficulty"],
            last_review=datetime.fromisoformat(before["last_reviewed_at"]),
            lapses=1,
        ),
        HARD,
        clock.now(),
    ).card
    assert (card["stability"], card["difficulty"]) == (expected.stability, expected.difficulty)


def test_it_keeps_commands_working_inside_a_review(box):
    learner = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    first, _, _ = _questions(box)
    _quiz_day_two(box, clock, learner, ["A", "false", "PIN"])
    _morning(box, clock, 3)
    clock.advance(minutes=1)
    help_reply = box.say(learner, "HELP", clock.now())
    assert "Your review is still open" in help_reply[0] and "*Review 1/1*" in help_reply[-1]
    assert "Not quite" not in " ".join(help_reply)
    progress = box.say(learner, "progress", clock.now())
    assert "*Review 1/1*" in progress[-1]
    box.say(learner, "STOP", clock.now())
    assert "unsubscribed" in box.say(learner, "B", clock.now())[0]
    assert _item(box, learner, first)["repetitions"] == 0  # opted out: no answer taken
    box.say(learner, "START", clock.now())
    replies = box.say(learner, "B", clock.now())
    assert replies[0].startswith("✅ Correct!") and _item(box, learner, first)["repetitions"] == 1


def test_it_defers_the_rest_of_a_skipped_review_without_a_wrong_mark(box):
    learner = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    first, second, _ = _questions(box)
    _quiz_day_two(box, clock, learner, ["A", "true", "PIN"])
    due = {q: _item(box, learner, q)["due_at"] for q in (first, second)}
    _morning(box, clock, 3)
    clock.advance(minutes=1)
    box.say(learner, "B", clock.now())  # the first answered
    replies = box.say(learner, "skip", clock.now())
    assert "another day" in replies[0] and "Lesson 2 of 7" in replies[0]
    assert _item(box, learner, second)["due_at"] == due[second]  # untouched: it comes back tomorrow
    assert _item(box, learner, first)["due_at"] != due[first]
    assert _delivered(box, learner, 2) is not None
    # NEXT inside the next day's review does the same, without using up a NEXT of the daily cap.
    _morning(box, clock, 4)  # the first, right yesterday, is due in 2 days (FSRS); the skipped one is back
    assert "*Review 1/1*\nSomeone who holds your phone" in _today(box, learner, 4, kind="review")[-1]["body"]
    clock.advance(minutes=1)
    replies = box.say(learner, "next", clock.now())
    assert "another day" in replies[0] and "Lesson 3 of 7" in replies[0]
    row = box.conn.execute("SELECT next_taken_count FROM learners WHERE id = ?", (learner,)).fetchone()
    assert row[0] == 0


def test_it_holds_one_lesson_at_most_for_an_unanswered_review(box):
    learner = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    _quiz_day_two(box, clock, learner, ["A", "false", "PIN"])
    kinds = {}
    for day in (3, 4, 5):
        _morning(box, clock, day)
        kinds[day] = [r["kind"] for r in _today(box, learner, day)]
    # Ignored on the 3rd: the 4th brings lesson 2 as usual (the question stays due), the 5th asks again.
    assert kinds == {3: ["review"], 4: ["lesson"], 5: ["review"]}
    assert [r["status"] for r in box.deliveries(learner, "review")] == ["done", "pending"]
    assert _delivered(box, learner, 2) is not None and _delivered(box, learner, 3) is None


def test_it_starts_the_review_on_the_reply_to_the_nudge_outside_the_whatsapp_window(box):
    learner = box.learner(last_inbound_at="2026-03-01T12:00:00+00:00")
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    _quiz_day_two(box, clock, learner, ["A", "false", "PIN"])
    box.conn.execute("UPDATE learners SET last_inbound_at = '2026-03-02T00:00:00+00:00' WHERE id = ?", (learner,))
    _morning(box, clock, 3, window=False)
    [nudge] = _today(box, learner, 3)  # the nudge only: neither the review nor the lesson is written yet
    assert nudge["kind"] == "nudge" and nudge["template_key"] == "lesson_nudge"
    assert not box.deliveries(learner, "review") and _delivered(box, learner, 2) is None
    clock.advance(hours=3)
    [asked] = box.say(learner, "ok", clock.now())  # the reply starts the review, as the daily turn would have
    assert "Before today's lesson" in asked and "*Review 1/1*" in asked and "didn't catch" not in asked
    replies = box.say(learner, "B", clock.now())
    assert replies[0].startswith("✅ Correct!") and "Lesson 2 of 7" in replies[1]
    assert [r["status"] for r in box.deliveries(learner, "held_lesson")] == ["done"]


def test_it_starts_the_same_review_in_the_batched_fan_out_as_in_run_event(box):
    now = datetime.fromisoformat("2026-03-03T04:00:00+00:00")
    one, other = box.learner(), box.learner()
    first, second, _ = _questions(box)
    for learner in (one, other):
        for question in (second, first):
            record_review(box.conn, learner, question, WRONG, datetime.fromisoformat("2026-03-02T04:05:00+00:00"))
    with transaction(box.conn):
        single = box.coach.run_event(box.conn, one, DeliverDailyLesson(), now)
        batched = box.coach.run_events(box.conn, [other], DeliverDailyLesson(), now)[other]
    assert len(single.outbox_ids) == len(batched.outbox_ids) == 1  # outside the window: the nudge, held the same
    bodies = [[(r["body"], r["kind"], r["template_key"]) for r in box.outbox(i)] for i in (one, other)]
    assert bodies[0] == bodies[1] and bodies[0][0][1:] == ("nudge", "lesson_nudge")
    rows = [[tuple(r)[2:] for r in box.deliveries(i, "held_lesson")] for i in (one, other)]  # from kind on
    assert rows[0] == rows[1] and rows[0][0][4] == "pending"
    box.conn.execute("UPDATE learners SET last_inbound_at = ?", ("2026-03-04T03:00:00+00:00",))  # in the window
    with transaction(box.conn):
        single = box.coach.run_event(box.conn, one, DeliverDailyLesson(), now.replace(day=4))
        batched = box.coach.run_events(box.conn, [other], DeliverDailyLesson(), now.replace(day=4))[other]
    bodies = [[(r["body"], r["kind"], r["template_key"]) for r in box.outbox(i)] for i in (one, other)]
    assert bodies[0] == bodies[1] and "*Review 1/2*" in bodies[0][-1][0]
    rows = [[tuple(r)[2:] for r in box.deliveries(i, kind)] for i in (one, other) for kind in ("review", "held_lesson")]
    assert rows[0] == rows[2] and rows[1] == rows[3] and rows[0][0][4] == "pending"
    assert rows[1][0][4] == "skipped_unanswered"  # the 3rd's held lesson: the 4th's review took its place


def test_it_keeps_reviewing_after_the_course_is_finished_while_the_window_is_open(box):
    """Spaced repetition matters most once the lessons stop: a learner who finished the course still gets their
    due questions at lesson time (no lesson follows); outside the window, with no lesson to hold behind a nudge,
    not that day."""
    inside, outside = box.learner(), box.learner()
    first, second, _ = _questions(box)
    last_position = box.conn.execute(
        "SELECT MAX(position) FROM lessons WHERE course_id = ?", (box.course_id,)
    ).fetchone()[0]
    for learner in (inside, outside):
        box.conn.execute("UPDATE enrollments SET next_position = ? WHERE learner_id = ?", (last_position + 1, learner))
        for question in (second, first):
            record_review(box.conn, learner, question, WRONG, datetime.fromisoformat("2026-03-02T04:05:00+00:00"))
    box.conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", ("2026-03-03T03:00:00+00:00", inside))
    box.conn.execute("UPDATE learners SET last_inbound_at = ? WHERE id = ?", ("2026-03-01T12:00:00+00:00", outside))
    clock = FakeClock("2026-03-03T04:00:30+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())

    [asked] = _today(box, inside, 3)
    assert asked["kind"] == "review" and "You finished your course" in asked["body"]
    assert "*Review 1/2*" in asked["body"] and "today's lesson" not in asked["body"]
    assert _today(box, outside, 3) == [] and not box.deliveries(outside, "review")

    clock.advance(minutes=10)
    box.say(inside, "hmm", clock.now())  # unclear: re-asked, never marked wrong
    [again] = box.say(inside, "hmm", clock.now())
    assert "stop for today" in again and "today's lesson" not in again
    assert box.say(inside, "skip", clock.now()) == ["👍 We'll review the rest another day."]  # no lesson follows
    assert [r["status"] for r in box.deliveries(inside, "review")] == ["done"]
    assert _item(box, inside, first)["due_at"] <= clock.now().isoformat()  # skipped: still due, no wrong mark


def test_it_asks_at_most_review_per_day_questions_and_keeps_the_rest_due(box):
    """[schedule] review_per_day (3): five questions due, three asked today (oldest first), two the next day."""
    learner = box.learner(last_inbound_at="2026-03-03T03:00:00+00:00")
    questions = _questions(box, 1) + _questions(box, 2)
    for minute, question in enumerate(questions[:5]):
        record_review(box.conn, learner, question, WRONG, datetime.fromisoformat(f"2026-03-02T04:0{minute}:00+00:00"))
    clock = FakeClock("2026-03-03T04:00:30+00:00")
    run_daily_lessons(box.conn, box.coach, clock.now())
    [asked] = _today(box, learner, 3)
    assert asked["kind"] == "review" and "*Review 1/3*" in asked["body"]
    for letter in ("b", "false", "pin"):
        clock.advance(minutes=1)
        replies = box.say(learner, letter, clock.now())
    assert "Review done" in replies[-1]
    reviewed = box.conn.execute(
        "SELECT question_id FROM review_log WHERE learner_id = ? AND reviewed_at >= '2026-03-03' ORDER BY id",
        (learner,),
    ).fetchall()
    assert [r[0] for r in reviewed] == questions[:3]
    for question in questions[3:5]:  # not asked: still due, untouched
        assert _item(box, learner, question)["due_at"].startswith("2026-03-03T04:0")
    box.conn.execute("UPDATE learners SET last_inbound_at = ?", ("2026-03-04T03:00:00+00:00",))
    _morning(box, clock, 4, window=False)
    assert "*Review 1/2*" in _today(box, learner, 4, kind="review")[-1]["body"]


def test_a_right_answer_in_a_quiz_retake_is_a_retry_and_rates_hard(box):
    """A quiz answered wrong, then the same question right in a retake an hour later: Hard, not Good (a retry); the
    next day, a right quiz answer to a question under review is a first try again: Good."""
    learner = box.learner()
    first, second, _ = _questions(box)
    at = datetime.fromisoformat("2026-03-02T04:05:00+00:00")
    answers = [
        (first, "A", False, at),
        (second, "true", False, at),
        (first, "B", True, at + timedelta(hours=1)),  # the retake
        (second, "false", True, at + timedelta(days=1)),  # next day: not a retry
    ]
    for question, given, correct, when in answers:
        progress.record_answer(box.conn, learner, question, given, correct, when)
    ingest_answers(box.conn, at + timedelta(days=1, minutes=10))
    logged = box.conn.execute(
        "SELECT question_id, rating, source, reviewed_at FROM review_log WHERE learner_id = ? ORDER BY id", (learner,)
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in logged] == [
        (first, AGAIN, "quiz"),
        (second, AGAIN, "quiz"),
        (first, HARD, "quiz"),
        (second, GOOD, "quiz"),
    ]
    assert [r[3] for r in logged] == [a[3].isoformat() for a in answers]  # at the time each answer was given


def test_the_desired_retention_setting_reaches_every_review(conn, settings, cache):
    """[learning] desired_retention = 0.8: the turn's answer and the review job both schedule for it (longer gaps)."""
    lenient = replace(settings, learning=replace(settings.learning, desired_retention=0.8))
    import_folder(conn, settings.content_dir, settings, progress=None)
    box = Box(conn, Coach(lenient, cache))
    learner = box.learner()
    clock = FakeClock("2026-03-02T00:00:00+00:00")
    first, _, _ = _questions(box)
    _morning(box, clock, 2)
    clock.advance(minutes=5)
    for text in ("quiz", "A", "false", "PIN"):
        box.say(learner, text, clock.now())
    ingest_answers(conn, clock.now(), desired_retention=lenient.learning.desired_retention)  # as the job does
    clock.set("2026-03-03T03:30:00+00:00")
    box.say(learner, "hello", clock.now())
    _morning(box, clock, 3)
    clock.advance(minutes=2)
    box.say(learner, "b", clock.now())
    logged = conn.execute("SELECT source, desired_retention FROM review_log ORDER BY id").fetchall()
    assert [tuple(r) for r in logged] == [("quiz", 0.8), ("review", 0.8)]
    # At 0.9 the same right answer is due in 2 days (the first test); at 0.8 later.
    assert _item(box, learner, first)["interval_days"] > 2.0
