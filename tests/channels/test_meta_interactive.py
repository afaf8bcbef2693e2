"""Native interactive messages on Meta: reply buttons (≤3, ≤20 characters), lists (≤10 rows, ≤24), else text."""

from __future__ import annotations

import json

from coachbox.channels.buttons import with_buttons
from coachbox.channels.meta.interactive import interactive_payload, labels
from coachbox.store.messages import OutboxDraft


def _variables(body: str, *options: str) -> str:
    return json.dumps({"1": body, **{str(n): o for n, o in enumerate(options, start=2)}})


def test_up_to_three_short_options_become_reply_buttons_whose_ids_are_the_options():
    payload = interactive_payload("Is it true?", _variables("Is it true?", "TRUE", "FALSE"))
    assert payload["interactive"]["type"] == "button"
    buttons = payload["interactive"]["action"]["buttons"]
    assert [(b["reply"]["id"], b["reply"]["title"]) for b in buttons] == [("TRUE", "TRUE"), ("FALSE", "FALSE")]


def test_numbered_menu_options_are_titled_with_their_words():
    body = "Which language?\n1. English\n2. Kiswahili"
    assert labels(body, ("1", "2")) == ["English", "Kiswahili"]
    buttons = interactive_payload(body, _variables(body, "1", "2"))["interactive"]["action"]["buttons"]
    assert [(b["reply"]["id"], b["reply"]["title"]) for b in buttons] == [("1", "English"), ("2", "Kiswahili")]


def test_long_titles_or_more_than_three_options_become_a_list_within_its_limits():
    body = "Courses:\n1. Mobile Money Safety (7 lessons)\n2. Python Basics (7 lessons) ⭐\n3. A\n4. B"
    payload = interactive_payload(body, _variables(body, "1", "2", "3", "4"))
    assert payload["interactive"]["type"] == "list"
    rows = payload["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0] == {"id": "1", "title": "Mobile Money Safety", "description": "(7 lessons)"}
    assert rows[1] == {"id": "2", "title": "Python Basics", "description": "(7 lessons) ⭐"}
    assert all(len(r["title"]) <= 24 for r in rows) and len(payload["interactive"]["action"]["button"]) <= 20


def test_beyond_the_limits_it_is_numbered_text():
    eleven = [str(n) for n in range(1, 12)]
    assert interactive_payload("Pick one", _variables("Pick one", *eleven)) is None
    assert interactive_payload("x" * 1025, _variables("x" * 1025, "A", "B")) is None
    assert interactive_payload("Pick", _variables("Pick", "A", "A")) is None  # ids must differ
    long_title = "An option far too long for a row title here"
    row = interactive_payload("Pick", _variables("Pick", *"ABCD", long_title[:30]))
    assert row is None or all(len(r["title"]) <= 24 for r in row["interactive"]["action"]["sections"][0]["rows"])


def test_meta_drafts_carry_their_options_without_any_template():
    draft = OutboxDraft(body="Ready?", kind="lesson")
    native = with_buttons(draft, ("QUIZ",), channel="whatsapp", templates={}, native=True)
    assert native.template_key == "quick_reply_1" and native.content_variables == {"1": "Ready?", "2": "QUIZ"}
    assert with_buttons(draft, ("QUIZ",), channel="whatsapp", templates={}).template_key is None  # Twilio: needs one
    listed = with_buttons(draft, tuple("12345"), channel="whatsapp", templates={}, native=True)
    assert listed.template_key == "list_5"
    assert with_buttons(draft, tuple("12345"), channel="sms", templates={}, native=True).template_key is None
