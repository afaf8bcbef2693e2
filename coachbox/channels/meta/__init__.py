"""Meta's WhatsApp Cloud API channel: transport (httpx), webhook parsing, statuses, media, error codes."""
