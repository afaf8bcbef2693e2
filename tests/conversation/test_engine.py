"""The pure engine on small in-code catalogues: commands from any state, menus, caps, languages."""

from dataclasses import replace
from datetime import UTC, datetime, timezone
from pathlib import Path

import pytest

from coachbox.conversation.engine import handle
from coachbox.conversation.events import Message
from coachbox.conversation.state import FLOWS, State, is_valid
from coachbox.conversation.texts import Texts
from coachbox.learning.learner import Enrollment, Learner
from tests.conftest import REPO
from tests.conversation.builders import catalogue

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
TEXTS = Texts.load(REPO / "content" / "locales")
ACTIVE = Learner(
    id=1,
    name="Amina",
    language="en",
    status="active",
    current_course_id=1,
    enrollments=(Enrollment(1, next_position=2),),
    last_lesson_id=110,
    message_count=9,
    created_at="x",
)


def turn(text, state=State(flow="idle"), learner=ACTIVE, texts=TEXTS):
    return handle(Message(text), state, learner, catalogue(), texts, NOW)


def states():
    for flow in FLOWS:
        lesson = 110 if flow in ("lesson", "quiz") else None
        yield State(flow=flow, lesson_id=lesson, options=(1, 3) if flow == "choose_course" else ())


@pytest.mark.parametrize("state", list(states()), ids=lambda s: s.flow)
def test_it_obeys_stop_from_any_state(state):
    decision = turn("STOP", state)
    assert any("unsubscribed" in r.text for r in decision.replies)
    if state.flow != "confirm_delete":
        assert [type(e).__name__ for e in decision.effects] == ["OptOut"]


@pytest.mark.parametrize(
    "state", [s for s in states() if s.flow not in ("new", "confirm_delete")], ids=lambda s: s.flow
)
def test_it_shows_the_menu_from_any_state_and_keeps_the_flow(state):
    decision = turn("Menu", state)
    assert "*Menu*" in decision.replies[0].text
    assert decision.state.flow == state.flow


def test_it_accepts_swahili_and_english_keywords_for_a_swahili_learner():
    swahili = replace(ACTIVE, language="sw")
    assert "*Menyu*" in turn("msaada", learner=swahili).replies[0].text
    assert "*Menyu*" in turn("HELP", learner=swahili).replies[0].text


def test_it_never_leaves_a_learner_confused_twice_without_the_menu():
    first = turn("what is the weather")
    second = turn("and tomorrow?", first.state)
    assert "HELP" in first.replies[-1].text and "*Menu*" not in first.replies[-1].text
    assert "*Menu*" in second.replies[-1].text
    assert [type(e).__name__ for e in second.effects] == ["AskTutor"]
    assert not any("understand" in r.text.lower() for r in first.replies + second.replies)


def test_it_reprompts_gently_on_an_unclear_quiz_answer():
    quiz = State(flow="quiz", lesson_id=110)
    once = turn("maybe", quiz)
    twice = turn("🤷", once.state)
    assert once.effects == () and "A, B or C" in once.replies[0].text
    assert "HELP" in twice.replies[0].text and twice.state.question == 0


def test_it_caps_next_per_local_day():
    capped = replace(ACTIVE, next_taken_date="2026-03-02", next_taken_count=3)
    decision = turn("next", learner=capped)
    assert "3 extra lessons today" in decision.replies[0].text and decision.effects == ()
    fresh = turn("next", learner=replace(capped, next_taken_date="2026-03-01"))
    assert "Lesson 2 of 3" in fresh.replies[0].text


def test_it_offers_every_locale_file_as_a_language(tmp_path: Path):
    for name in ("en.toml", "sw.toml"):
        (tmp_path / name).write_text(
            (REPO / "content" / "locales" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    (tmp_path / "fr.toml").write_text(
        '[meta]\nname = "Français"\n[keywords]\nhelp = ["aide"]\n[language]\nset = "Langue : {language}. ✅"\n',
        encoding="utf-8",
    )
    texts = Texts.load(tmp_path)
    menu = turn("language", texts=texts)
    assert "2. Français" in menu.replies[0].text
    chosen = turn("2", menu.state, texts=texts)
    assert chosen.replies[0].text == "Langue : Français. ✅"
    french = replace(ACTIVE, language="fr")
    assert "*Menu*" in turn("aide", learner=french, texts=texts).replies[0].text  # missing key → English


def test_it_confirms_before_deleting():
    ask = turn("delete")
    assert ask.state.flow == "confirm_delete" and ask.effects == ()
    assert [type(e).__name__ for e in turn("yes", ask.state).effects] == ["EraseLearner"]
    assert turn("no", ask.state).effects == ()


def test_it_issues_a_certificate_only_when_eligible():
    from coachbox.learning.progress import LessonResult

    done = replace(ACTIVE, results=tuple(LessonResult(100 + 10 * p, 1, 3, 3, True) for p in (1, 2, 3)))
    decision = turn("certificate", learner=done)
    assert [type(e).__name__ for e in decision.effects] == ["IssueCertificate"]
    assert [type(e).__name__ for e in turn("certificate").effects] == []


def test_it_keeps_states_valid_and_serialisable():
    for state in states():
        assert is_valid(state)
        assert State.from_json(state.to_json()) == state
    assert State.from_json("{broken") is None


def test_mydata_says_how_long_messages_keep_their_words_when_the_box_forgets_them():
    from coachbox.conversation.turn import Rules

    kept = handle(Message("mydata"), State(flow="idle"), ACTIVE, catalogue(), TEXTS, NOW, Rules())
    forgotten = handle(
        Message("data yangu"),
        State(flow="idle"),
        replace(ACTIVE, language="sw"),
        catalogue(),
        TEXTS,
        NOW,
        Rules(message_retention_days=30),
    )
    assert "Messages stored: 9" in kept.replies[0].text and "days" not in kept.replies[0].text
    assert "kwa siku 30" in forgotten.replies[0].text and len(forgotten.replies) == 1


@pytest.mark.parametrize("said", ["B", "2", "true", "Uongo"])
def test_a_lone_answer_with_no_question_open_says_so_instead_of_asking_the_tutor(said):
    decision = turn(said)
    assert "no question open" in decision.replies[0].text
    assert not any(type(e).__name__ == "AskTutor" for e in decision.effects)
    assert any(type(e).__name__ == "AskTutor" for e in turn("Why is my PIN 4 digits?").effects)
