"""The built-in simulator channel: 'sends' by accepting; the terminal chat and admin read the outbox rows."""

from __future__ import annotations

import uuid

from coachbox.channels.base import Outbound, SendResult


class SimulatorChannel:
    kind = "simulator"

    async def send(self, message: Outbound) -> SendResult:
        return SendResult(provider_sid=f"SM{uuid.uuid4().hex}", status="delivered")

    async def close(self) -> None:
        return None
