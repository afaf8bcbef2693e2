"""Property tests: whatever a learner sends, in whatever state, the engine answers and stays valid."""

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachbox.conversation.engine import handle
from coachbox.conversation.events import Message
from coachbox.conversation.state import FLOWS, State, is_valid
from tests.conversation.builders import catalogue
from tests.conversation.test_engine import ACTIVE, NOW, TEXTS

CATALOGUE = catalogue()
WORDS = [
    "hi",
    "yes",
    "no",
    "1",
    "2",
    "b",
    "true",
    "si kweli",
    "pin",
    "quiz",
    "next",
    "STOP",
    "start",
    "menu",
    "msaada",
    "delete",
    "courses",
    "time 7pm",
    "language sw",
    "ask why?",
    "progress",
    "pause",
    "resume",
    "mydata",
    "certificate",
    "7:30",
    "Africa/Kampala",
    "👍",
    "🔥🔥",
    "   ",
    "",
]

texts = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=80),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=10),
    st.builds(lambda n: "a" * n, st.integers(min_value=1000, max_value=20000)),
)
state_strategy = st.builds(
    lambda flow, q, unclear, confused, back: State(
        flow=flow,
        lesson_id=110 if flow in ("lesson", "quiz") else st_none(),
        question=q if flow == "quiz" else 0,
        answers=(True,) * q if flow == "quiz" else (),
        unclear=unclear,
        confused=confused,
        options=(1, 3) if flow in ("choose_course", "onboarding_course") else (),
        return_flow=back,
    ),
    st.sampled_from(FLOWS),
    st.integers(min_value=0, max_value=2),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(("idle", "lesson")),
)


def st_none():
    return None


learners = st.sampled_from(
    [
        ACTIVE,
        replace(ACTIVE, opted_out=True),
        replace(ACTIVE, status="paused"),
        replace(ACTIVE, status="onboarding", name=None, current_course_id=None, enrollments=(), profile_name="Juma"),
        replace(ACTIVE, language="sw"),
        replace(ACTIVE, language="xx"),  # a language whose locale file was removed
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=texts,
    payload=st.one_of(st.none(), st.sampled_from(["A", "B", "TRUE", "QUIZ", "1", ""])),
    media=st.integers(min_value=0, max_value=2),
    state=state_strategy,
    learner=learners,
)
def test_it_always_answers_and_stays_valid(text, payload, media, state, learner):
    if state.return_flow == "lesson":
        state = replace(state, lesson_id=110)
    decision = handle(Message(text, payload, media), state, learner, CATALOGUE, TEXTS, NOW)
    assert decision.replies, (text, state.flow)
    assert all(r.text.strip() for r in decision.replies)
    assert all(len(r.text) <= 4096 or r.kind == "lesson" for r in decision.replies)
    assert is_valid(decision.state)
    assert State.from_json(decision.state.to_json()) == decision.state
