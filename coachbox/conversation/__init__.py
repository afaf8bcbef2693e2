"""The bot: a pure engine (inbound + state → replies + effects) and the thin service that applies it."""
