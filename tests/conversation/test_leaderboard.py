"""The weekly cohort leaderboard: LEADERBOARD / UBAO and PROGRESS, off unless the school turns it on."""

from coachbox import store

NAMES = [
    ("Fatuma Ali", 4),
    ("Baraka Otieno", 3),
    ("Chebet Rono", 3),
    ("Daudi Mwangi", 2),
    ("Esther Njeri", 1),
    ("Gift Achieng", 1),
]
THIS_WEEK = "2026-03-01T21:30:00+00:00"  # Monday 00:30 in Nairobi: the clock's week
LAST_WEEK = "2026-03-01T20:30:00+00:00"  # Sunday 23:30 in Nairobi: last week, though under 7 days ago


def _classmates(driver):
    conn = driver.conn
    lessons = [r[0] for r in conn.execute("SELECT id FROM lessons ORDER BY id")]
    with store.transaction(conn):
        conn.execute("UPDATE learners SET cohort = '7B' WHERE id = ?", (driver.learner_id,))
        everyone = [(name, count, "7B", "active") for name, count in NAMES]
        everyone += [("Outsider Person", 6, "8A", "active"), ("Halima Onboarding", 0, "7B", "onboarding")]
        for number, (name, count, cohort, status) in enumerate(everyone):
            learner = conn.execute(
                """INSERT INTO learners (channel_key, phone, name, status, cohort, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, 'x', 'x')""",
                (f"sim:+2547000000{number}", f"+2547000000{number}", name, status, cohort),
            ).lastrowid
            for lesson in lessons[:count]:
                conn.execute(
                    "INSERT INTO progress (learner_id, lesson_id, completed_at) VALUES (?, ?, ?)",
                    (learner, lesson, THIS_WEEK),
                )
            if name.startswith("Fatuma"):  # last week's lesson does not count this week
                conn.execute(
                    "INSERT INTO progress (learner_id, lesson_id, completed_at) VALUES (?, ?, ?)",
                    (learner, lessons[10], LAST_WEEK),
                )


def test_it_says_the_leaderboard_is_off_unless_the_school_turns_it_on(driver):
    driver.onboard()
    _classmates(driver)
    assert "has not turned on" in driver.say("leaderboard")[0]
    assert "This week" not in "\n".join(driver.say("progress"))
    assert "LEADERBOARD" not in "\n".join(driver.say("help"))


def test_it_shows_the_top_five_of_the_cohort_this_week_and_the_learners_own_place(driver):
    driver.settings = driver.settings.replace(learning={"leaderboard": True})
    driver.onboard()
    _classmates(driver)
    board = driver.say("leaderboard")[0].split("\n\n")[0]  # then the open quiz's question again
    assert board.splitlines() == [
        "🏆 *This week in your group*",
        "1. Fatuma: 4 lessons",
        "2. Baraka: 3 lessons",
        "2. Chebet: 3 lessons",
        "4. Daudi: 2 lessons",
        "5. Esther: 1 lessons",
        "…",
        "7. Amina: 0 lessons ⬅️",
    ]
    assert "Ali" not in board and "Outsider" not in board and "Halima" not in board
    assert board in "\n".join(driver.say("progress"))
    assert "LEADERBOARD" in "\n".join(driver.say("help"))


def test_it_answers_ubao_in_kiswahili_and_explains_a_missing_group(driver):
    driver.settings = driver.settings.replace(learning={"leaderboard": True})
    driver.onboard(language="2")
    assert "hujawekwa katika kundi" in driver.say("ubao")[0]
    _classmates(driver)
    assert driver.say("ubao")[0].splitlines()[:2] == ["🏆 *Wiki hii katika kundi lako*", "1. Fatuma: masomo 4"]
