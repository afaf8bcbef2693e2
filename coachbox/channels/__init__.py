"""Channels that carry messages to learners: Twilio (WhatsApp/SMS), Meta's Cloud API and the built-in simulator."""

from __future__ import annotations

from coachbox.channels.base import Channel
from coachbox.channels.simulator import SimulatorChannel
from coachbox.core.config import Settings


def build_channel(settings: Settings) -> Channel:
    """Twilio or Meta's Cloud API when its credentials are configured, otherwise the simulator."""
    if settings.channel_kind == "twilio":
        # lazy: the twilio client and aiohttp cost ~25 MB in every process, and a simulator box never needs them
        from coachbox.channels.twilio.transport import TwilioChannel

        return TwilioChannel(settings)
    if settings.channel_kind == "meta":
        # lazy: only a Meta box needs the Cloud API transport (httpx is light, but keep each channel to its box)
        from coachbox.channels.meta.transport import MetaChannel

        return MetaChannel(settings)
    return SimulatorChannel()
