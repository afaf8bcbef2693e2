"""The composition root's product: every long-lived resource a process needs, as named, typed fields.

The type lives in the bottom layer so that every layer can receive it; `coachbox.roots.services` builds it.
Resources owned by a feature (the sender, the tutor's client, payment clients…) start empty and are made on
first use by that feature, in this process. Their types are imported for annotations only (TYPE_CHECKING):
that never runs, so it adds no import-time dependency from this layer upward (see tests/test_layers.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import diskcache
from huey import Huey

from coachbox.core.clock import Clock
from coachbox.core.config import Settings

if TYPE_CHECKING:
    from coachbox.channels.base import Channel, Inbound
    from coachbox.channels.sender import Sender
    from coachbox.core.events import Hub, Relay
    from coachbox.payments.runtime import Payments
    from coachbox.schedule.coach import Coach
    from coachbox.store.database import Coalesced, Database, GroupCommit
    from coachbox.turns.intake import Intake
    from coachbox.turns.runner import Resources, TurnOutcome
    from coachbox.tutor.llm import TutorLlm

InboundHandler = Callable[["Services", "Inbound"], Awaitable["TurnOutcome"]]


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database  # the single writer connection (its own thread)
    cache: diskcache.Cache  # sessions, rate limits, caches: shared by every process on the box
    channel: Channel
    huey: Huey
    # Made on first use by the feature that owns each (None until then, and in processes that never need it).
    sender: Sender | None = None  # the web process's outbox sender (started with the server)
    media_secret: str | None = None  # the /media signing key, read once
    inbound_handler: InboundHandler | None = None  # the webhook's turn; tests and benches put a stand-in here
    inflight_turns: set[asyncio.Task[Any]] = field(default_factory=set)  # the loop holds tasks only weakly
    status_receipts: Coalesced | None = None  # status callbacks, applied in coalesced batches
    inbound_turns: GroupCommit | None = None  # inbound turns, group-committed
    intake: Intake | None = None  # the web worker's choice between a turn now and the inbound queue, and its runner
    conversation: Resources | None = None  # texts, rules and the cached catalogue
    coach: Coach | None = None  # the scheduler's bridge to the turn runner
    payments: Payments | None = None  # plans, Daraja and Stripe clients
    tutor_llm: TutorLlm | None = None  # the OpenAI-compatible client
    tasks: dict[str, Callable[..., Any]] | None = None  # Huey task handles, by name (None: not registered here)
    hub: Hub | None = None  # the web process's live-update hub
    relay: Relay | None = None  # the worker's relay of live updates to the web process

    async def aclose(self) -> None:
        await self.channel.close()
        self.close_sync()

    def close_sync(self) -> None:
        if self.tutor_llm is not None:
            self.tutor_llm.close()
        self.cache.close()
        self.db.close()
