"""The [twilio.templates] keys coachbox looks up: what each carries, its variables, and which are configured."""

from __future__ import annotations

from dataclasses import dataclass

from coachbox.channels.buttons import MAX_BUTTONS, MIN_BUTTONS, quick_reply_key


@dataclass(frozen=True)
class TemplateUse:
    key: str
    what: str
    variables: str  # ContentVariables, as the outbox row carries them
    waits: bool = True  # without it a row outside the 24-hour window waits for the learner (False: numbered text)


# docs/twilio.md has a step-by-step section for each (tests/channels/test_templates.py checks every key the code
# can look up is there). The outbox looks a row up by its template key, else by its kind (buttons.window_template_key).
TEMPLATES = (
    TemplateUse(
        "lesson_nudge",
        "the daily lesson outside the window: the lesson is held for the reply",
        "{{1}} first name, {{2}} lesson title",
    ),
    TemplateUse(
        "reminder",
        "the reminder for a missed lesson, and a follow-up quiz sent outside the window",
        "{{1}} first name, {{2}} lesson title",
    ),
    TemplateUse("summary", "the Sunday weekly summary", "{{1}} first name"),
    TemplateUse("certificate", "a course certificate (the PDF as media)", "{{1}} first name, {{2}} course title"),
    TemplateUse("payment", "payment receipts and renewal reminders", "{{1}} the text of the message"),
    TemplateUse(
        "broadcast", "an admin's broadcast to a cohort or course", "{{1}} organisation name, {{2}} the message"
    ),
    TemplateUse("admin", "an admin's message to one learner", "{{1}} the message"),
    *(
        TemplateUse(
            quick_reply_key(n),
            f"{n} quick-reply buttons, inside the window only",
            "{{1}} body, then one variable per button",
            waits=False,
        )
        for n in range(MIN_BUTTONS, MAX_BUTTONS + 1)
    ),
)


def configured(templates: dict) -> tuple[list[str], list[str]]:
    """(configured keys, missing keys) of TEMPLATES in a [twilio.templates] table (a "HX…" string or {sid = …})."""

    def has(key: str) -> bool:
        entry = templates.get(key)
        return bool(entry.get("sid") if isinstance(entry, dict) else entry)

    keys = [t.key for t in TEMPLATES]
    return [k for k in keys if has(k)], [k for k in keys if not has(k)]
