"""What an outbound message is doing now, in words: one vocabulary for the admin pages, the JSON API and /metrics.

A row's stored status is the sender's bookkeeping ('queued' covers a row going out this second and one held until
07:00); a teacher needs its state. Only a provider's error is shown as an error, with the provider's code, meaning
and documentation; a row held for quiet hours, scheduled, waiting for the learner to write, sending or paused is no
error and says so in its own words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from coachbox.channels.twilio import errors
from coachbox.learning import timing
from coachbox.store.messages import BUDGET, HELD

PAUSED = "20429"  # the code a row carries while all sends pause after Twilio's 429 (channels.pacing)
# Every state, in the order pages list them, with the words a count of it is labelled with.
STATES: dict[str, str] = {
    "scheduled": "scheduled for later",
    "held": "held for quiet hours",
    "budget": "held: the month's messaging budget is spent",
    "due": "queued to go out now",
    "sending": "sending",
    "paused": "sending paused (Twilio asked us to slow down)",
    "retrying": "retrying after an error",
    "waiting": "waiting for the learner to write",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "undelivered",
    "cancelled": "cancelled",
    "received": "received",
}
ERRORS = frozenset({"retrying", "failed", "undelivered"})  # the only states that show an error
UNSENT = frozenset(
    {"scheduled", "held", "budget", "due", "paused", "retrying", "waiting"}
)  # a cancel can still stop these


def name_of(status: str, code: str | None, later: bool) -> str:
    """The state of a row from its status, its error code and whether it waits for a later time."""
    if status in ("queued", "retry"):
        if not later:
            return "due"
        if code == HELD:
            return "held"
        if code == BUDGET:
            return "budget"
        if code == PAUSED:
            return "paused"
        return "retrying" if status == "retry" else "scheduled"
    return status if status in STATES else "sent"  # a provider status we do not name (accepted…): Twilio has it


def clock_words(instant: datetime, now: datetime, tz: str) -> str:
    """An instant on the reader's wall clock in `tz`: '07:00', '07:00 tomorrow' or 'Thu 5 Mar 07:00'."""
    local, today = instant.astimezone(timing.zone(tz)), now.astimezone(timing.zone(tz)).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        return f"{local:%H:%M} tomorrow"
    return f"{local:%a} {local.day} {local:%b %H:%M}"


@dataclass(frozen=True)
class State:
    name: str
    words: str  # "held for quiet hours until 07:00 tomorrow (Africa/Nairobi)"
    until: str | None = None  # the instant (ISO) a scheduled, held, paused or retrying row waits for
    note: str | None = None  # what the row's own record adds (why it waits, why it was cancelled)
    error: str | None = None  # a provider's error only: "Error 63016: Outside the 24-hour window…"
    code: str | None = None
    link: str | None = None  # the provider's documentation of that code

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.words,
            "until": self.until,
            "note": self.note,
            "error": {"code": self.code, "message": self.error, "link": self.link} if self.error else None,
        }


def _get(row: Mapping[str, Any] | Any, key: str) -> Any:
    return row[key] if key in row.keys() else None


def of(row: Mapping[str, Any] | Any, now: datetime, tz: str) -> State:
    """The state of one message row (a sqlite3.Row or a dict with status, error_code, error_message and, for rows
    still to send, next_attempt_at), times in `tz` (the learner's zone)."""
    if _get(row, "direction") == "in":
        return State("received", STATES["received"])
    status, code, reason = row["status"], _get(row, "error_code"), _get(row, "error_message")
    due_at = _get(row, "next_attempt_at")
    later = bool(due_at) and datetime.fromisoformat(due_at) > now
    name = name_of(status, code, later)
    when = f"{clock_words(datetime.fromisoformat(due_at), now, tz)} ({tz})" if later else ""
    if name == "held":
        return State(name, f"held for quiet hours until {when}", until=due_at)
    if name == "budget":
        return State(
            name, f"held: the month's messaging budget is spent (looked at again {when})", until=due_at, note=reason
        )
    if name == "scheduled":
        return State(name, f"scheduled for {when}", until=due_at)
    if name == "paused":
        return State(name, f"sending paused until {when}: Twilio asked us to slow down", until=due_at)
    if name in ERRORS:
        words = f"retrying at {when}" if name == "retrying" else STATES[name]
        meaning = errors.describe(code) if code and code != HELD else ""
        error = f"Error {code}: {meaning}" if meaning else (reason or (f"Error {code}" if code else None))
        return State(
            name,
            words,
            until=due_at if later else None,
            error=error or "no error code recorded",
            code=code if code != HELD else None,
            link=errors.doc_url(code),
        )
    note = reason if name in ("due", "waiting", "cancelled") and code != HELD else None
    return State(name, STATES[name], note=note)


@dataclass
class Counts:
    """Rows by state, and the rows held for quiet hours by the instant they go."""

    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    held: dict[str, int] = field(default_factory=dict)  # ISO instant -> rows held until then

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    @property
    def unsent(self) -> int:
        return sum(n for name, n in self.by_state.items() if name in UNSENT)

    def held_words(self, now: datetime, tz: str) -> list[tuple[str, int]]:
        """[('07:00 tomorrow (Africa/Nairobi)', rows), …], soonest first."""
        return [
            (f"{clock_words(datetime.fromisoformat(until), now, tz)} ({tz})", n)
            for until, n in sorted(self.held.items())
        ]


def count(groups: Iterable[Mapping[str, Any] | Any]) -> Counts:
    """store.messages.state_groups() rows as Counts."""
    counts = Counts()
    for group in groups:
        name = name_of(group["status"], group["code"], bool(group["later"]))
        counts.by_state[name] = counts.by_state.get(name, 0) + group["n"]
        if name == "held" and group["held_until"]:
            counts.held[group["held_until"]] = counts.held.get(group["held_until"], 0) + group["n"]
    return counts
