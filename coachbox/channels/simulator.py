"""The built-in simulator channel: 'sends' by accepting. What its learner's phone shows is read back from the shared
outbound rows of the messages table (Feed): the simulator page's live feed and `coachbox chat` both follow it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from coachbox.channels.base import Outbound, SendResult
from coachbox.store import messages

# Outbound statuses of a message that went out (it is on the phone); still to go: messages.BACKLOG_STATUSES.
SENT_STATUSES = ("sent", "delivered", "read")
# Of those still to go, the ones the sender is working on (not 'waiting' for the learner to write first).
_ON_THEIR_WAY = ("queued", "retry", "sending")


class SimulatorChannel:
    kind = "simulator"

    async def send(self, message: Outbound) -> SendResult:
        return SendResult(provider_sid=f"SM{uuid.uuid4().hex}", status="delivered")

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class SentMessage:
    """One message as the learner's phone got it."""

    id: int
    body: str
    kind: str
    media: tuple[str, ...]
    created_at: str
    sent_at: str | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> SentMessage:
        return cls(
            id=row["id"],
            body=row["body"],
            kind=row["kind"],
            media=tuple(json.loads(row["media"] or "[]")),
            created_at=row["created_at"],
            sent_at=row["sent_at"],
        )


@dataclass
class Feed:
    """Everything the box sends one learner, each message once, when it has been sent.

    The single source is the messages table: a turn's replies, the tutor's answers, follow-up quizzes, daily
    lessons, badges, broadcasts and certificates all become outbound rows there, whichever process made them.
    read() returns the rows sent since the last call: those after the last id it read, plus earlier ones that were
    still to be sent then (held for quiet hours, retrying), so a message that goes out later than a newer one is
    shown when it goes out, not lost. Rows that never go out (failed, cancelled) are dropped.

    Made with `after`: the newest id the reader has shown already; on the first read the learner's rows up to it
    that are still to be sent are picked up too. read() runs on a store connection (the writer thread).
    """

    learner_id: int
    after: int = 0
    _unsent: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (status, next_attempt_at)
    _started: bool = False

    def read(self, conn: sqlite3.Connection) -> list[SentMessage]:
        if not self._started:
            self._started = True
            self._unsent = {r["id"]: (r["status"], r["next_attempt_at"]) for r in self._earlier(conn)}
        rows = messages.outbound_rows(conn, sorted(self._unsent)) + messages.outbound_after(
            conn, self.learner_id, self.after
        )
        sent = []
        for row in rows:
            self.after = max(self.after, row["id"])
            if row["status"] in messages.BACKLOG_STATUSES:
                self._unsent[row["id"]] = (row["status"], row["next_attempt_at"])
                continue
            self._unsent.pop(row["id"], None)
            if row["status"] in SENT_STATUSES:
                sent.append(SentMessage.of(row))
        return sent

    def _earlier(self, conn: sqlite3.Connection) -> list[sqlite3.Row]:
        return messages.unsent_outbound(conn, self.learner_id, self.after) if self.after else []

    def due(self, now: datetime) -> bool:
        """Is one of the rows still to be sent due by `now` (so it goes out in a moment), as of the last read?
        A row held for later (quiet hours, a retry's back-off) or waiting for the learner to write is not."""
        return any(
            status in _ON_THEIR_WAY and (at is None or datetime.fromisoformat(at) <= now)
            for status, at in self._unsent.values()
        )
