"""The session state's JSON and copies: every field survives a round trip, byte for byte as dataclasses made it."""

import json
from dataclasses import asdict, fields, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachbox.conversation.state import FLOWS, SCHEMA, State, with_flow

# Every field, with values the engine never produces as well: the JSON must carry whatever it is given.
states = st.builds(
    State,
    flow=st.sampled_from(FLOWS),
    lesson_id=st.one_of(st.none(), st.integers(min_value=1, max_value=2**40)),
    question=st.integers(min_value=0, max_value=50),
    answers=st.lists(st.booleans(), max_size=12).map(tuple),
    unclear=st.integers(min_value=0, max_value=9),
    confused=st.integers(min_value=0, max_value=9),
    options=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12).map(tuple),
    return_flow=st.sampled_from(FLOWS),
    retry=st.lists(st.integers(min_value=1, max_value=2**40), max_size=6).map(tuple),
    version=st.integers(min_value=0, max_value=2**40),
)


@given(states)
def test_it_writes_the_json_dataclasses_asdict_wrote(state):
    # Sessions saved before the hand-written encoder are read by the new code, and the other way round.
    assert state.to_json() == json.dumps({**asdict(state), "schema": SCHEMA}, separators=(",", ":"))


@given(states)
def test_it_round_trips_every_field(state):
    if state.flow == "quiz" and (state.lesson_id is None or len(state.answers) != state.question):
        state = replace(state, lesson_id=state.lesson_id or 1, question=len(state.answers))
    if state.flow == "lesson" and state.lesson_id is None:
        state = replace(state, lesson_id=1)
    if state.flow in ("checkin_before", "checkin_after") and len(state.answers) != state.question:
        state = replace(state, question=len(state.answers))  # the check-in keeps the quiz's answer count
    if state.flow != "quiz":
        state = replace(state, retry=())  # a retry's questions only belong to a quiz
    assert State.from_json(state.to_json()) == state


def test_it_names_every_field_in_the_json():
    assert set(json.loads(State().to_json())) == {f.name for f in fields(State)} | {"schema"}


@given(states, st.sampled_from(FLOWS), st.integers(min_value=0, max_value=5))
def test_it_evolves_like_dataclasses_replace(state, flow, version):
    assert state.evolve(flow=flow, version=version) == replace(state, flow=flow, version=version)
    kept = state.retry if flow == "quiz" else ()  # leaving the quiz forgets a retry's questions
    assert with_flow(state, flow, options=(1,)) == replace(state, flow=flow, unclear=0, options=(1,), retry=kept)
    assert state.evolve() == state and state.evolve() is not state


def test_it_refuses_an_unknown_field():
    with pytest.raises(TypeError, match="flowz"):
        State().evolve(flowz="idle")


def test_it_reads_a_session_saved_before_retries():
    saved = State(flow="quiz", lesson_id=110, question=1, answers=(True,)).to_json().replace(',"retry":[]', "")
    assert State.from_json(saved) == State(flow="quiz", lesson_id=110, question=1, answers=(True,))
