"""WhatsApp quick-reply buttons: a reply's 2-3 options as the [twilio.templates] quick_reply_N Content template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from coachbox.content.markup import BUTTON_BODY_LIMIT
from coachbox.store.messages import OutboxDraft

# In-session quick replies need no WhatsApp approval for up to 3 buttons; a title is at most 20 characters and
# the body at most 1,024 (https://www.twilio.com/docs/content/twilio-quick-reply). Outside those limits the
# reply keeps its numbered text, which is always in the body.
MIN_BUTTONS, MAX_BUTTONS = 2, 3
TITLE_LIMIT = 20
BODY_LIMIT = BUTTON_BODY_LIMIT
PREFIX = "quick_reply_"
LIST_PREFIX = "list_"  # Meta's list messages (up to 10 options): inside the window only, like quick replies
NATIVE_MAX_OPTIONS = 10


def quick_reply_key(count: int) -> str:
    return f"{PREFIX}{count}"


def is_quick_reply(template_key: str | None) -> bool:
    return template_key is not None and template_key.startswith((PREFIX, LIST_PREFIX))


def window_template_key(template_key: str | None, kind: str) -> str:
    """The template for outside the 24-hour window: a quick-reply template is for inside it, so the kind's."""
    return kind if not template_key or is_quick_reply(template_key) else template_key


def with_buttons(
    draft: OutboxDraft, options: Sequence[str], *, channel: str, templates: dict, native: bool = False
) -> OutboxDraft:
    """The draft as a quick-reply message when WhatsApp can show its options as buttons, else unchanged.

    ContentVariables: {"1": body, "2": first option, …}; the template's button ids are the same variables, so a
    tap comes back as ButtonPayload = the option, which the engine reads as what the learner typed."""
    if channel != "whatsapp" or draft.template_key or draft.content_variables is not None:
        return draft
    if native:
        # Meta's Cloud API: interactive messages need no template; up to 3 become buttons, up to 10 a list (the
        # outbox builds them, channels/meta/interactive.py, and keeps the numbered text beyond the limits).
        if not 1 <= len(options) <= NATIVE_MAX_OPTIONS or len(draft.body) > BODY_LIMIT:
            return draft
        key = quick_reply_key(len(options)) if len(options) <= MAX_BUTTONS else f"{LIST_PREFIX}{len(options)}"
        variables = {"1": draft.body, **{str(n): option for n, option in enumerate(options, start=2)}}
        return replace(draft, template_key=key, content_variables=variables)
    if not MIN_BUTTONS <= len(options) <= MAX_BUTTONS or len(draft.body) > BODY_LIMIT:
        return draft
    if any(not option.strip() or len(option) > TITLE_LIMIT for option in options):
        return draft
    key = quick_reply_key(len(options))
    entry = templates.get(key)
    if not (entry.get("sid") if isinstance(entry, dict) else entry):
        return draft
    variables = {"1": draft.body, **{str(n): option for n, option in enumerate(options, start=2)}}
    return replace(draft, template_key=key, content_variables=variables)
