"""WhatsApp Cloud API error codes: which are permanent (recorded, never retried) and what each means."""

from __future__ import annotations

from coachbox.channels.base import is_permanent_error

# Reference: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes (read 2026-12).
PERMANENT: dict[str, str] = {
    "100": "Meta refused a parameter of the message (invalid parameter): see the error's details.",
    "131008": "A required parameter is missing from the message.",
    "131009": "A parameter value is not valid (for example a button title too long).",
    "131021": "The recipient is the business's own number.",
    "131026": "Meta could not deliver to this number (not on WhatsApp, an old app version, or terms not accepted).",
    "131031": "The WhatsApp Business Account is restricted or disabled: see Meta's Business Manager.",
    "131045": "The phone number is not registered for the Cloud API (check [meta] phone_number_id).",
    "131047": "Outside the 24-hour window: only an approved template may be sent (configure [meta.templates]).",
    "131051": "WhatsApp does not support this message type.",
    "131052": "Meta could not download the learner's media.",
    "131053": "Meta could not fetch or use the media of this message (check [server] public_url).",
    "132000": "The template's parameters do not match the approved template.",
    "132001": "The template does not exist in that language, or is not approved yet.",
    "132005": "The template's text is too long once filled in.",
    "132007": "The template breaks a WhatsApp policy.",
    "132012": "The template parameters are in the wrong format.",
    "132015": "The template is paused for low quality.",
    "132016": "The template is disabled for low quality.",
    "368": "The WhatsApp account is temporarily blocked for policy violations.",
    "470": "Outside the 24-hour window (older code): only an approved template may be sent.",
}

# Codes worth naming in the admin page although a retry may succeed.
TRANSIENT: dict[str, str] = {
    "130429": "Meta's throughput limit for this phone number was reached; the message is retried.",
    "131056": "Too many messages to this learner in a short time (pair rate limit); retried later.",
    "131016": "Meta's service is temporarily unavailable; retried.",
    "131000": "Something went wrong at Meta; retried.",
    "1": "Meta's API had an unknown error; retried.",
    "2": "Meta's API is temporarily unavailable; retried.",
    "4": "The app hit Meta's API call limit; retried later.",
    "80007": "The WhatsApp Business Account hit its rate limit; retried later.",
    "133016": "Too many registration attempts for this number; retried later.",
    # Refusals a fix of the box's settings ends (as Twilio's 20003): retried until [twilio] retry_horizon_minutes.
    "190": "Meta refused the access token (expired or revoked): set a new COACHBOX_META_ACCESS_TOKEN (retrying).",
    "10": "The token lacks whatsapp_business_messaging for this phone number (retrying).",
    "200": "The token lacks whatsapp_business_messaging for this phone number (retrying).",
    "network": "Could not reach Meta's Graph API; retried with backoff.",
    "timeout": "No answer from Meta in time: the message may or may not have been sent.",
    "gave_up": "Retries stopped after [twilio] retry_horizon_minutes.",
}

WINDOW_CLOSED = "131047"
RATE_LIMITS = frozenset({"130429", "131056", "80007", "4"})
# Answers that prove Meta did not take the message (resent without waiting for a status that cannot come).
NOT_TAKEN = RATE_LIMITS | {WINDOW_CLOSED, "190", "10", "200"}


def is_permanent(code: str | int | None, http_status: int | None = None) -> bool:
    """A known permanent code, or any 4xx answer other than 401/408/429 (those may pass after a fix or a wait)."""
    return is_permanent_error(
        code, http_status, permanent=PERMANENT, transient=TRANSIENT, retryable_statuses=(401, 408, 429)
    )


def describe(code: str | int | None) -> str:
    """Plain-English meaning of a Cloud API error code ("" for one we do not know, never a made-up meaning)."""
    if code is None:
        return ""
    key = str(code)
    known = PERMANENT.get(key) or TRANSIENT.get(key)
    if known:
        return known
    return f"WhatsApp Cloud API error {key}: see {doc_url(key)}" if key.isdigit() else ""


def doc_url(code: str | int | None) -> str | None:
    """Meta's error-code page (one page for all codes); None for our own words ("network", "timeout")."""
    key = str(code) if code is not None else ""
    return "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes" if key.isdigit() else None
