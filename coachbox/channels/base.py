"""What every channel speaks: inbound and outbound messages, the send result, and ChannelError."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class InboundMedia:
    url: str
    content_type: str
    path: str | None = None  # under data/media/inbound once downloaded


@dataclass(frozen=True)
class Inbound:
    """One message from a learner, already verified and parsed by its channel."""

    channel: str  # whatsapp | sms | simulator
    address: str  # the learner's channel key: "whatsapp:+2547…", "whatsapp:KE.xyz", "sms:+…", "sim:+…"
    body: str
    provider_sid: str  # Twilio MessageSid or Meta's wamid (de-dup key); simulator makes one up
    received_at: datetime
    phone: str | None = None  # E.164, when the channel gives one
    wa_id: str | None = None
    wa_user_id: str | None = None  # Meta's business-scoped user id (BSUID), when it gives one
    profile_name: str | None = None
    button_payload: str | None = None
    button_text: str | None = None
    media: tuple[InboundMedia, ...] = ()
    # "stop" or "start" when the provider recognised an opt-out or opt-in keyword itself (Twilio's OptOutType).
    opt_out: str | None = None
    kind: str | None = None  # the provider's message type where it says one (Meta: text, image, unsupported…)

    @property
    def attachments(self) -> int:
        """What the learner sent besides words: its media, or 1 for a message we cannot read at all (a location, a
        contact card, a type WhatsApp adds later), so the engine answers it as media ("I can only read text…")."""
        if self.media:
            return len(self.media)
        return 0 if self.kind in (None, "text", "interactive", "button") else 1


@dataclass(frozen=True)
class Outbound:
    """One message as the sender hands it to a channel (read from an outbox row)."""

    message_id: int
    address: str
    body: str
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None  # Twilio Content template, outside the 24-hour window
    content_variables: str | None = None  # JSON text
    status_callback: str | None = None
    # The message in a channel's own shape, when plan() made one (Meta: an interactive message or a template).
    native: dict | None = None


@dataclass(frozen=True)
class SendResult:
    provider_sid: str
    status: str = "sent"  # as the provider reports it (queued, accepted, sent…)
    provider_time: datetime | None = None  # the provider's clock, from its answer's HTTP Date header


class ChannelError(Exception):
    """A send that failed; permanent ones are recorded and never retried."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,  # the provider's HTTP status, where there was one
    ):
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.code = code
        self.retry_after = retry_after


class Channel(Protocol):
    kind: str

    async def send(self, message: Outbound) -> SendResult: ...

    async def close(self) -> None: ...


def is_permanent_error(
    code: str | int | None,
    http_status: int | None,
    *,
    permanent: Collection[str],
    transient: Collection[str],
    retryable_statuses: Collection[int],
) -> bool:
    """A provider's answer that retrying the same request cannot mend: a code it documents as permanent, or a 4xx
    that carries no code known to pass and is not one of `retryable_statuses` (those may pass after a fix or a
    wait). Each channel's errors.py gives its own code lists."""
    if code is not None and str(code) in permanent:
        return True
    if code is not None and str(code) in transient:
        return False
    if http_status is None:
        return False
    return 400 <= http_status < 500 and http_status not in retryable_statuses
