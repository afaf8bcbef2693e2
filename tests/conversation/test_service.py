"""The service: one transaction per turn, de-duplication, idempotent outbox, sessions, rate limit, erasure."""

import asyncio
import threading

from coachbox import store
from coachbox.channels.outbox import deliver_due
from coachbox.conversation.events import DeliverDailyLesson, QuizFollowUp
from coachbox.turns import sessions
from coachbox.turns.runner import handle_inbound_sync
from tests.conversation.conftest import Driver


def test_it_onboards_and_sends_the_first_lesson_right_away(driver):
    replies = driver.onboard()
    assert "All set" in replies[0] and "07:00" in replies[0]
    assert "Lesson 1 of 7" in replies[1] and "*What is mobile money?*" in replies[1]
    assert "*Question 1/3*" in replies[-1] and "Reply A, B or C." in replies[-1]  # lean days: the quiz starts
    row = driver.learner()
    assert (row["name"], row["status"], row["lesson_time"], row["timezone"]) == (
        "Amina Wanjiru",
        "active",
        "07:00",
        "Africa/Nairobi",
    )
    pending = driver.conn.execute("SELECT kind, status FROM deliveries WHERE kind = 'quiz_followup'").fetchall()
    assert [tuple(r) for r in pending] == []  # the quiz started with the lesson: nothing to follow up


def test_no_to_the_profile_name_asks_for_a_name_instead_of_saving_no(driver):
    driver.say("hi")
    assert driver.say("no") == ["What's your first name?"]
    driver.say("Wanjiru")
    assert driver.learner()["name"] == "Wanjiru"


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
    sessions.forget(driver.conn, driver.learner_id)  # and a session to expire: the state is rebuilt
    replies = driver.say("false")
    assert replies[0].startswith("✅") and "Question 3/3" in replies[0]


def test_it_rebuilds_a_session_saved_at_another_turn(driver):
    driver.onboard()
    driver.say("quiz")
    stale = sessions.load(driver.conn, driver.learner_id, store_turn(driver), driver.clock.now())
    driver.say("b")
    sessions.save(driver.conn, driver.learner_id, stale, 1, driver.clock.now())  # an older process writes late
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
    messages = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND body != ''").fetchone()[0]
    assert kept == 1 and messages == 0
    assert "Welcome" in driver.say("hi")[0]  # the same number starts afresh


def _traces(conn, cache, needles):
    """Every text cell of every table, and every cache key and value, that contains one of the needles."""
    found = []
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_fts%'"
        )
    ]
    for table in tables:
        for row in conn.execute(f"SELECT * FROM {table}"):
            for column, value in zip(row.keys(), row):
                if isinstance(value, (str, bytes)) and any(n in str(value) for n in needles):
                    found.append(f"{table}.{column}={value!r}"[:200])
    for key in cache.iterkeys():
        value = cache.get(key)
        if any(n in f"{key}{value!r}" for n in needles):
            found.append(f"cache[{key!r}]")
    return found


def test_it_leaves_no_personal_trace_once_the_goodbye_is_sent(conn, cache, settings, clock, services):
    from coachbox.channels.base import InboundMedia
    from coachbox.content.importer import import_folder

    import_folder(conn, settings.content_dir, settings, progress=None)
    driver = Driver(conn, cache, settings, clock, phone="+254733999111", name="Zawadi Kiprotich")
    needles = ("733999111", "Zawadi", "Kiprotich")
    driver.onboard()
    voice = settings.data_dir / "media" / "inbound" / "SMvoice-0.ogg"
    voice.parent.mkdir(parents=True, exist_ok=True)
    voice.write_bytes(b"OggS voice of Zawadi")
    driver.say(
        "",
        sid="SMvoice",
        media=(InboundMedia("https://api.twilio.test/m", "audio/ogg", "media/inbound/SMvoice-0.ogg"),),
    )
    driver.say("ASK my name is Zawadi, can my agent see my PIN?")  # a pending tutor exchange with their words
    pdf = settings.data_dir / "certificates" / "K7QM-3XPA.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(b"%PDF Zawadi Kiprotich")
    with store.transaction(conn):
        conn.execute(
            """INSERT INTO certificates (code, learner_id, course_id, learner_name, score, path, issued_at)
                        VALUES ('K7QM-3XPA', ?, (SELECT MIN(id) FROM courses), 'Zawadi Kiprotich', 90,
                                'certificates/K7QM-3XPA.pdf', '2026-03-01')""",
            (driver.learner_id,),
        )
        payment = conn.execute(
            """INSERT INTO payments (learner_id, plan, provider, amount_minor, currency, phone, status,
                                  period_days, created_at, updated_at) VALUES (?, 'monthly', 'mpesa', 20000, 'KES',
                                  '+254733999111', 'paid', 30, 'x', 'x')""",
            (driver.learner_id,),
        ).lastrowid
        conn.execute(
            """INSERT INTO payment_events (provider, event_id, kind, payment_id, outcome, payload, received_at)
                        VALUES ('mpesa', 'ws_1', 'stk_callback', ?, 'paid', '{"PhoneNumber": 254733999111}', 'x')""",
            (payment,),
        )
    assert _traces(conn, cache, needles)  # the scan does see a learner who is still here

    driver.say("delete")
    goodbye = driver.send("yes")
    farewell = conn.execute("SELECT id, address, body FROM messages WHERE id = ?", (goodbye.outbox_ids[0],)).fetchone()
    assert farewell["address"] == "sim:+254733999111" and "erased" in farewell["body"]  # it can still reach the phone
    assert [t for t in _traces(conn, cache, needles) if not t.startswith("messages.address")] == []
    assert not voice.exists() and not pdf.exists()

    async def hand_over() -> None:  # the real sender (the simulator channel here) hands the goodbye over
        while await deliver_due(services):
            pass

    asyncio.run(hand_over())
    sent = conn.execute("SELECT status, provider_sid FROM messages WHERE id = ?", (farewell["id"],)).fetchone()
    assert sent["status"] == "sent" and sent["provider_sid"]  # not cancelled: the learner "opted out" by erasing
    assert _traces(conn, cache, needles) == []
    assert driver.send("yes", sid="SM-retry-of-yes").duplicate is False  # a new message starts afresh…
    retry = handle_inbound_sync(
        conn,
        cache,
        settings,
        driver.catalogue,
        driver.res.texts,
        driver.inbound(
            "yes",
            sid=conn.execute(
                "SELECT provider_sid FROM messages WHERE direction = 'in' AND learner_id = ?",
                (farewell_learner(conn, farewell["id"]),),
            ).fetchone()[0],
        ),
        clock.now(),
    )
    assert retry.duplicate  # …but Twilio retrying the confirming YES is still recognised


def farewell_learner(conn, message_id):
    return conn.execute("SELECT learner_id FROM messages WHERE id = ?", (message_id,)).fetchone()[0]


def test_it_runs_proactive_events_once(driver, clock):
    driver.settings = driver.settings.replace(learning={"lean_days": False})  # the follow-up quiz comes back
    driver.onboard()
    follow = driver.event(QuizFollowUp(driver.catalogue.courses[0].lessons[0].id))
    assert "Time for your quiz" in follow[0]
    assert driver.event(QuizFollowUp(driver.catalogue.courses[0].lessons[0].id)) == []
    for answer in ("b", "false", "pin"):
        driver.say(answer)
    clock.advance(days=1)
    daily = driver.event(DeliverDailyLesson())  # their window closes within 2 h: the nudge, the lesson held
    assert len(daily) == 1 and "*Keep your PIN secret* is ready" in daily[0]
    assert driver.event(DeliverDailyLesson()) == []
    template = driver.conn.execute("SELECT template_key FROM messages WHERE body = ?", (daily[0],)).fetchone()[0]
    assert template == "lesson_nudge"
    lesson = driver.say("ok")
    assert "Here is your lesson, Amina!" in lesson[0] and "Lesson 2 of 7" in lesson[0]


def test_it_does_not_follow_up_a_quiz_already_started(driver):
    driver.settings = driver.settings.replace(learning={"lean_days": False})
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
            handle_inbound_sync(
                conn,
                driver.cache,
                settings,
                other.catalogue,
                other.res.texts,
                other.inbound(text, sid=sid),
                clock.now(),
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    for round_ in range(3):
        threads = [
            threading.Thread(target=answer, args=(text, f"SMc{round_}{i}")) for i, text in enumerate(("b", "false"))
        ]
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
    state = sessions.load(driver.conn, driver.learner_id, store_turn(driver), driver.clock.now())
    assert state is not None and state.flow == "idle"


def _enrollments(driver):
    return [
        tuple(r)
        for r in driver.conn.execute(
            """SELECT c.slug, e.next_position, e.status FROM enrollments e JOIN courses c ON c.id = e.course_id
           WHERE e.learner_id = ? ORDER BY e.id""",
            (driver.learner_id,),
        )
    ]


def _done_lessons(driver):
    return [
        tuple(r)
        for r in driver.conn.execute(
            """SELECT c.slug, l.position, p.correct, p.total FROM progress p JOIN lessons l ON l.id = p.lesson_id
           JOIN courses c ON c.id = l.course_id WHERE p.learner_id = ? AND p.completed_at IS NOT NULL
           ORDER BY l.position""",
            (driver.learner_id,),
        )
    ]


def test_it_moves_the_enrollment_to_the_translated_course_and_back(driver):
    driver.onboard()  # English, Mobile Money Safety, lesson 1 delivered
    for answer in ("b", "false", "pin"):
        driver.say(answer)
    driver.say("next")  # lesson 2 delivered, its first question asked
    assert _enrollments(driver) == [("mobile-money-safety", 3, "active")]
    answers = driver.conn.execute("SELECT COUNT(*) FROM answers WHERE learner_id = ?", (driver.learner_id,)).fetchone()[
        0
    ]

    replies = driver.say("language sw")
    assert "Kozi yako inaendelea" in replies[-1] and "Usalama wa Pesa za Simu" in replies[-1]
    assert "umemaliza masomo 1 kati ya 7" in replies[-1]
    assert _enrollments(driver) == [("mobile-money-safety-sw", 3, "active")]
    assert _done_lessons(driver) == [("mobile-money-safety-sw", 1, 3, 3)]
    assert (
        driver.conn.execute(
            """SELECT COUNT(*) FROM answers a JOIN questions q ON q.id = a.question_id
                                  JOIN lessons l ON l.id = q.lesson_id JOIN courses c ON c.id = l.course_id
                                  WHERE a.learner_id = ? AND c.slug = 'mobile-money-safety-sw'""",
            (driver.learner_id,),
        ).fetchone()[0]
        == answers
    )
    quiz = driver.say("jaribio")  # lesson 2's quiz, now in Kiswahili: still open, its question asked again
    assert "Jaribio lako bado liko wazi" in quiz[0] and "Swali 1/3" in quiz[-1]
    assert "Usalama wa Pesa za Simu: masomo 1/7" in "\n".join(driver.say("maendeleo"))

    replies = driver.say("lugha en")
    assert "Your course continues in this language: *Mobile Money Safety*" in replies[-1]
    assert _enrollments(driver) == [("mobile-money-safety", 3, "active")]
    assert _done_lessons(driver) == [("mobile-money-safety", 1, 3, 3)]
    assert "Question 1/3" in "\n".join(driver.say("quiz"))  # the quiz in progress went along


def test_it_counts_every_stored_message_for_mydata(driver):
    # Other turns stop counting at 2 (is this the first message?); MYDATA must show the real number.
    driver.onboard()
    driver.say("progress")
    stored = driver.conn.execute("SELECT COUNT(*) FROM messages WHERE learner_id = ?", (driver.learner_id,)).fetchone()[
        0
    ]
    assert stored > 3
    assert f"Messages stored: {stored + 1}" in driver.say("My data!")[0]  # this message is stored before the reply


def test_it_knows_a_first_contact_from_the_database_when_the_session_is_lost(driver):
    first = driver.say("hi")
    driver.cache.clear()
    sessions.forget(driver.conn, driver.learner_id)
    assert driver.say("yes") != first  # the second message confirms the name; it does not welcome them again
