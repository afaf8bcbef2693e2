"""Session state in the database, written in the turn's own transaction, versioned by the learner's turn counter."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from coachbox.conversation.state import State
from coachbox.store import turn_state


def load(conn: sqlite3.Connection, learner_id: int, turn: int, now: datetime) -> State | None:
    """The saved state if it was saved at this exact turn and has not expired; None (rebuild from the database)."""
    state = State.from_json(turn_state.session(conn, learner_id, now.timestamp()))
    return state if state is not None and state.version == turn else None


def save(conn: sqlite3.Connection, learner_id: int, state: State, ttl_hours: int, now: datetime) -> None:
    turn_state.save_session(conn, learner_id, state.to_json(), now.timestamp() + ttl_hours * 3600)


def forget(conn: sqlite3.Connection, learner_id: int) -> None:
    turn_state.forget_session(conn, learner_id)
