"""The service: one transaction per turn, de-duplication, idempotent outbox, sessions, rate limit, erasure."""

import threading

from coachbox import store
from coachbox.conversation import sessions
from coachbox.conversation.events import DeliverDailyLesson, QuizFollowUp
from coachbox.conversation.service import handle_inbound_sync
from tests.conversation.conftest import Driver


def test_it_onboards_and_sends_the_first_lesson_right_away(driver):
    replies = driver.onboard()
    assert "All set" in replies[0] and "07:00" in replies[0]
    assert "Lesson 1 of 7" in replies[1] and "*What is mobile money?*" in replies[1]
    assert "QUIZ" in replies[-1]
    row = driver.learner()
    assert (row["name"], row["status"], row["lesson_time"], row["timezone"]) == ("Amina Wanjiru", "active", "07:00",
                                                                                "Africa/Nairobi")
    pending = driver.conn.execute("SELECT kind, status FROM deliveries WHERE kind = 'quiz_followup'").fetchall()
    assert [tuple(r) for r in pending] == [("quiz_followup", "pending")]


def test_it_processes_a_webhook_retry_once(driver):
    first = driver.send("hi", sid="SMsame")
    again = driver.send("hi", sid="SMsame")
    assert not first.duplicate and first.outbox_ids
    assert again.duplicate and again.outbox_ids == []
    count = driver.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert count == 1 + len(first.outbox_ids)


def test_it_rebuilds_a_lost_session_from_the_database(driver):
    driver.onboard()
    driver.say("quiz")
    driver.say("b")
    driver.cache.clear()  # the cache folder is allowed to vanish
    replies = driver.say("false")
    assert replies[0].startswith("✅") and "Question 3/3" in replies[0]


def test_it_rebuilds_a_session_saved_at_another_turn(driver):
    driver.onboard()
    driver.say("quiz")
    stale = sessions.load(driver.cache, driver.learner_id, store_turn(driver))
    driver.say("b")
    sessions.save(driver.cache, driver.learner_id, stale, 1)  # an older process writes late
    assert "Question 3/3" in driver.say("false")[0]


def store_turn(driver):
    return driver.conn.execute("SELECT turn FROM learners WHERE id = ?", (driver.learner_id,)).fetchone()[0]


def test_it_sends_one_polite_notice_then_silence(driver):
    driver.settings = driver.settings.replace(learning={"burst_per_minute": 3})
    outcomes = [driver.send(text) for text in ("hi", "yes", "1", "x", "y", "z")]
    assert [bool(o.outbox_ids) for o in outcomes] == [True, True, True, True, False, False]
    assert "faster than I can keep up" in driver.bodies(outcomes[3].outbox_ids)[0]
    inbound = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0]
    assert inbound == 6  # still recorded


def test_it_erases_personal_data_and_keeps_anonymous_progress(driver):
    driver.onboard()
    for answer in ("quiz", "b", "false", "pin"):
        driver.say(answer)
    driver.say("delete")
    assert "erased" in driver.say("yes")[0]
    row = driver.conn.execute("SELECT * FROM learners WHERE id = ?", (driver.learner_id,)).fetchone()
    assert (row["name"], row["phone"], row["profile_name"], row["status"]) == (None, None, None, "deleted")
    kept = driver.conn.execute("SELECT COUNT(*) FROM progress WHERE learner_id = ?", (driver.learner_id,)).fetchone()[0]
    messages = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0]
    assert kept == 1 and messages == 0
    assert "Welcome" in driver.say("hi")[0]  # the same number starts afresh


def test_it_runs_proactive_events_once(driver, clock):
    driver.onboard()
    follow = driver.event(QuizFollowUp(driver.catalogue.courses[0].lessons[0].id))
    assert "Time for your quiz" in follow[0]
    assert driver.event(QuizFollowUp(driver.catalogue.courses[0].lessons[0].id)) == []
    for answer in ("b", "false", "pin"):
        driver.say(answer)
    clock.advance(days=1)
    daily = driver.event(DeliverDailyLesson())
    assert "today's lesson" in daily[0] and "Lesson 2 of 7" in daily[1]
    assert driver.event(DeliverDailyLesson()) == []
    template = driver.conn.execute("SELECT template_key FROM messages WHERE body = ?", (daily[0],)).fetchone()[0]
    assert template == "lesson_nudge"


def test_it_does_not_follow_up_a_quiz_already_started(driver):
    driver.onboard()
    driver.say("quiz")
    status = driver.conn.execute("SELECT status FROM deliveries WHERE kind = 'quiz_followup'").fetchone()[0]
    assert status == "cancelled"
    assert driver.event(QuizFollowUp(driver.catalogue.courses[0].lessons[0].id)) == []


def test_it_serialises_two_concurrent_messages_from_one_learner(driver, settings, clock):
    driver.onboard()
    driver.say("quiz")
    errors = []

    def answer(text, sid):
        conn = store.connect(settings.db_path)
        try:
            other = Driver(conn, driver.cache, settings, clock)
            handle_inbound_sync(conn, driver.cache, settings, other.catalogue, other.res.texts,
                                other.inbound(text, sid=sid), clock.now())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    for round_ in range(3):
        threads = [threading.Thread(target=answer, args=(text, f"SMc{round_}{i}")) for i, text in enumerate(("b", "false"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    # Six answers to a three-question quiz: the first three finish it, the rest are free text / a new attempt
    # never a torn state. Every stored answer belongs to one of the lesson's questions, at most once per attempt.
    answers = driver.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    completed = driver.conn.execute("SELECT attempts FROM progress WHERE completed_at IS NOT NULL").fetchall()
    assert answers == 3 and [r[0] for r in completed] == [1]
    state = sessions.load(driver.cache, driver.learner_id, store_turn(driver))
    assert state is not None and state.flow == "idle"
