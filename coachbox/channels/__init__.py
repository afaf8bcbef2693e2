"""Channels that carry messages to learners: Twilio (WhatsApp/SMS) and the built-in simulator."""

from __future__ import annotations

from coachbox.channels.base import Channel
from coachbox.core.config import Settings


def build_channel(settings: Settings) -> Channel:
    """Twilio when credentials are configured, otherwise the simulator."""
    if settings.channel_kind == "twilio":
        from coachbox.channels.twilio.transport import TwilioChannel

        return TwilioChannel(settings)
    from coachbox.channels.simulator import SimulatorChannel

    return SimulatorChannel()
