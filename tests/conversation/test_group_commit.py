"""Inbound turns group-committed: concurrent webhooks share one transaction, and one failing turn rolls back alone."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from coachbox.channels.base import Inbound
from coachbox.turns import runner as service

pytestmark = pytest.mark.anyio


def _inbound(services, n: int, body: str = "hi") -> Inbound:
    phone = f"+2547123456{n:02d}"
    return Inbound("whatsapp", f"whatsapp:{phone}", body, f"SM{n:032d}", services.clock.now(), phone=phone)


async def test_it_rolls_back_a_failing_turn_alone_in_a_group(services, conn, monkeypatch):
    write_replies = service._write_replies

    def fails_for_learner_3(conn, learner_id, replies, now, *, address, **kw):
        ids = write_replies(conn, learner_id, replies, now, address=address, **kw)
        if address.endswith("03"):  # after its outbox rows: they must go too
            raise sqlite3.OperationalError("disk I/O error")
        return ids

    monkeypatch.setattr(service, "_write_replies", fails_for_learner_3)
    outcomes = await asyncio.gather(
        *(service.handle_inbound(services, _inbound(services, n)) for n in range(6)), return_exceptions=True
    )
    assert isinstance(outcomes[3], sqlite3.OperationalError)
    assert all(o.outbox_ids and not o.duplicate for i, o in enumerate(outcomes) if i != 3)
    turns = services.inbound_turns
    assert turns.rounds < turns.items == 6  # they did share transactions
    stored = {r[0] for r in conn.execute("SELECT channel_key FROM learners")}
    assert "whatsapp:+254712345603" not in stored and len(stored) == 5
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE address = 'whatsapp:+254712345603'").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0] == 5

    # Twilio retries the failed one: it is a fresh turn, handled in full.
    monkeypatch.setattr(service, "_write_replies", write_replies)
    retried = await service.handle_inbound(services, _inbound(services, 3))
    assert retried.outbox_ids and not retried.duplicate


async def test_it_stores_concurrent_duplicates_once(services, conn):
    """Twilio's retries arriving together land in one group: the unique key still lets only the first in."""
    messages = [_inbound(services, n % 4) for n in range(40)]
    outcomes = await asyncio.gather(*(service.handle_inbound(services, m) for m in messages))
    assert sum(not o.duplicate for o in outcomes) == 4
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0] == 4
    replies = conn.execute("SELECT COUNT(DISTINCT learner_id) FROM messages WHERE direction = 'out'").fetchone()[0]
    assert replies == 4
