"""One error shape for every payment provider (Daraja, Stripe), the same idea as the channels' ChannelError."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call that failed; permanent=True when retrying the same request cannot help (bad number, config)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        permanent: bool = False,
        code: str | None = None,
        status: int | None = None,  # the provider's HTTP status, where there was one
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.permanent = permanent
        self.code = code
        self.status = status
