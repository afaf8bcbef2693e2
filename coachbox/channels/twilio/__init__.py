"""The Twilio channel (WhatsApp and SMS): transport, webhook parsing, status callbacks, media, error codes."""
