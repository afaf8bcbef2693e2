"""Session state in diskcache (shared by every process), versioned by the learner's turn counter."""

from __future__ import annotations

from typing import Any

from coachbox.conversation.state import State

PREFIX = "session:"


def key(learner_id: int) -> str:
    return f"{PREFIX}{learner_id}"


def load(cache: Any, learner_id: int, turn: int) -> State | None:
    """The cached state if it was saved at this exact turn; None (rebuild from the database) otherwise."""
    state = State.from_json(cache.get(key(learner_id)))
    return state if state is not None and state.version == turn else None


def save(cache: Any, learner_id: int, state: State, ttl_hours: int) -> None:
    cache.set(key(learner_id), state.to_json(), expire=ttl_hours * 3600)


def forget(cache: Any, learner_id: int) -> None:
    cache.delete(key(learner_id))
