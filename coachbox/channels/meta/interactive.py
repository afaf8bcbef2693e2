"""Native WhatsApp interactive messages for a reply's options: reply buttons (≤3, titles ≤20 characters) or a list
(≤10 rows, titles ≤24); None beyond those limits, and the reply goes as its numbered text (always in its body).

A button's or row's id is the option itself ("A", "TRUE", "2"): a tap comes back as interactive.button_reply.id /
list_reply.id, which the engine reads as what the learner typed. The title is the option's words where the body
numbers them ("1. English" → "English"), else the option."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_BUTTONS, BUTTON_TITLE_LIMIT = 3, 20
MAX_ROWS, ROW_TITLE_LIMIT, ROW_DESCRIPTION_LIMIT = 10, 24, 72
BODY_LIMIT = 1024  # interactive body text (https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages)
ID_LIMIT = 256
_MARKUP = re.compile(r"[*_~`]")


def labels(body: str, options: tuple[str, ...]) -> list[str]:
    """Each option's words as the body numbers them ("1. English", "*2* Kiswahili"), else the option itself."""
    found = []
    for option in options:
        label = option
        if option.isdigit():
            pattern = re.compile(rf"^\s*\*?{re.escape(option)}\*?[.)]?\s+(.+?)\s*$", re.M)
            match = pattern.search(body)
            if match:
                label = _MARKUP.sub("", match.group(1)).strip() or option
        found.append(label)
    return found


def interactive_payload(body: str, variables: str | dict | None) -> dict[str, Any] | None:
    """The Cloud API "interactive" message for a body and its options (ContentVariables {"1": body, "2": option…},
    as the outbox row keeps them), or None when WhatsApp's limits do not allow one."""
    if isinstance(variables, str):
        try:
            variables = json.loads(variables)
        except ValueError:
            return None
    if not isinstance(variables, dict):
        return None
    options = tuple(str(variables[k]) for k in sorted((k for k in variables if k != "1"), key=int))
    if not options or not body.strip() or len(body) > BODY_LIMIT:
        return None
    if any(not option.strip() or len(option) > ID_LIMIT for option in options) or len(set(options)) != len(options):
        return None
    words = labels(body, options)
    if len(options) <= MAX_BUTTONS and all(len(w) <= BUTTON_TITLE_LIMIT for w in words):
        buttons = [{"type": "reply", "reply": {"id": o, "title": w}} for o, w in zip(options, words)]
        return {
            "type": "interactive",
            "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}},
        }
    if len(options) > MAX_ROWS:
        return None
    rows = []
    for option, label in zip(options, words):
        short = re.sub(r"\s*\(.*$", "", label)  # "Mobile Money Safety (7 lessons) ⭐" → "Mobile Money Safety"
        title = label if len(label) <= ROW_TITLE_LIMIT else short if 0 < len(short) <= ROW_TITLE_LIMIT else option
        if len(title) > ROW_TITLE_LIMIT:
            return None
        row = {"id": option, "title": title}
        rest = label[len(title) :].strip() if label.startswith(title) else label
        if rest:
            row["description"] = rest[:ROW_DESCRIPTION_LIMIT]
        rows.append(row)
    action = {
        "button": f"☰ 1–{len(options)}" if all(o.isdigit() for o in options) else "☰",
        "sections": [{"rows": rows}],
    }
    return {"type": "interactive", "interactive": {"type": "list", "body": {"text": body}, "action": action}}
