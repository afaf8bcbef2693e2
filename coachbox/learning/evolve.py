"""dataclasses.replace for the engine's frozen records at a fraction of the cost: copy the fields, skip __init__."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def evolve(record: T, names: frozenset[str], changes: dict[str, Any]) -> T:
    """A copy of `record` with `changes`, for frozen dataclasses whose __init__ computes nothing (so skipping it
    changes nothing): ~0.8 µs instead of ~6 for dataclasses.replace, which the fan-out calls per learner."""
    if not changes.keys() <= names:  # (a subset test makes no set when all is well, as it nearly always is)
        unknown = changes.keys() - names
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    copy = object.__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)
    return copy
