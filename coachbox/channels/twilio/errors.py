"""Twilio error codes: which are permanent (recorded, never retried) and what each means in plain English."""

from __future__ import annotations

from coachbox.channels.base import is_permanent_error

# Codes a send can fail with that no retry will fix. The admin page shows these meanings next to a
# failed message. Reference: https://www.twilio.com/docs/api/errors/<code>
PERMANENT: dict[str, str] = {
    "21211": "The 'To' number is not a valid phone number.",
    "21212": "The 'From' number is not valid: check [twilio] whatsapp_from / sms_from.",
    "21408": "Sending to this country is not enabled on the Twilio account (Messaging Geo-Permissions).",
    "21606": "The 'From' number cannot send messages: check [twilio] whatsapp_from / sms_from.",
    "21610": "The learner replied STOP: Twilio blocks messages to them until they send START.",
    "21612": "This number cannot be reached through this sender (unsupported route or carrier).",
    "21614": "The 'To' number is not a mobile number (a landline cannot receive messages).",
    "21617": "The message body is longer than 1,600 characters.",
    "21620": "A media URL is invalid or unreachable for Twilio (check [server] public_url).",
    "21656": "The template's ContentVariables are invalid (they must match the approved template).",
    "63003": "This number is not on WhatsApp (the channel could not find the 'To' address).",
    "63005": "WhatsApp did not accept this content (unsupported format or media type).",
    "63007": "The WhatsApp sender in [twilio] whatsapp_from is not set up on this Twilio account.",
    "63013": "WhatsApp refused the message for a policy violation.",
    "63016": "Outside the 24-hour window: only an approved template may be sent (configure [twilio.templates]).",
    "63024": "WhatsApp says this recipient cannot receive this message (invalid recipient).",
    "63030": "A parameter is not supported by WhatsApp for this kind of message.",
    "63032": "WhatsApp will not deliver to this user because of a Meta limitation (e.g. a marketing experiment).",
    "63049": "Meta chose not to deliver this marketing template to this user.",
    "63051": "The WhatsApp Business Account is locked: see the Meta Business Manager.",
    "63112": "Meta disabled the WhatsApp Business Account.",
    "30003": "The handset was unreachable (switched off or out of coverage) and the message expired.",
    "30005": "The number does not exist or is no longer in service.",
    "30006": "The number is a landline or cannot receive messages.",
    "30007": "The carrier filtered the message as spam.",
}

# Codes worth naming in the admin page although a retry may succeed.
TRANSIENT: dict[str, str] = {
    "20003": "Twilio rejected the credentials: check COACHBOX_TWILIO_ACCOUNT_SID / _AUTH_TOKEN (retrying).",
    "20429": "Too many requests: Twilio did not process the message; it is retried later.",
    "30001": "Twilio's queue overflowed; the message is retried.",
    "30008": "Unknown delivery error at the carrier or WhatsApp.",
    "63018": "The WhatsApp sender's rate limit was exceeded; the message is retried.",
    "timeout": "No answer from Twilio in time; checked at Twilio before any resend.",
    "network": "Could not reach Twilio; retried with backoff.",
    "gave_up": "Retries stopped after [twilio] retry_horizon_minutes.",
}

WINDOW_CLOSED = "63016"
UNSUBSCRIBED = "21610"


def is_permanent(code: str | int | None, http_status: int | None = None) -> bool:
    """A known permanent code, or any 4xx answer other than 401/403/408/429 (those may pass after a fix or a wait)."""
    return is_permanent_error(
        code, http_status, permanent=PERMANENT, transient=TRANSIENT, retryable_statuses=(401, 403, 408, 429)
    )


def doc_url(code: str | int | None) -> str | None:
    """Twilio's page for one of its error codes (they are numbers); None for our own words ("timeout", "network",
    "gave_up") and for markers that are no error at all (a row held for quiet hours): Twilio has no page for them."""
    key = str(code) if code is not None else ""
    return f"https://www.twilio.com/docs/api/errors/{key}" if key.isdigit() else None


def describe(code: str | int | None) -> str:
    """Plain-English meaning of a Twilio error code, for logs and the admin page ("" for a code that is not Twilio's
    and that we do not know: never a made-up Twilio error)."""
    if code is None:
        return ""
    key = str(code)
    known = PERMANENT.get(key) or TRANSIENT.get(key)
    if known:
        return known
    return f"Twilio error {key}: see {doc_url(key)}" if key.isdigit() else ""
