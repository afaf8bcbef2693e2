"""Every [twilio.templates] key the code can look up is documented in docs/twilio.md; `coachbox check` says which
are configured and which are missing."""

from __future__ import annotations

import ast
from pathlib import Path

import coachbox
from coachbox.channels.templates import TEMPLATES
from coachbox.ops.checks import _check_channel
from coachbox.turns.runner import TEMPLATE_FOR
from tests.doubles.twilio_fixtures import twilio_double, twilio_settings_for  # noqa: F401 - fixtures

ROOT = Path(coachbox.__file__).parent
DOC = ROOT.parent / "docs" / "twilio.md"
# Calls that write an outbox row or a reply with a literal kind (the sender's fallback key outside the window).
WRITERS = {"OutboxDraft", "Reply", "send", "say", "_send"}


def _literals(node: ast.expr, constants: dict[str, str]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.Attribute) and node.attr in constants:
        return [constants[node.attr]]
    if isinstance(node, ast.IfExp):
        return _literals(node.body, constants) + _literals(node.orelse, constants)
    if isinstance(node, ast.BoolOp):
        return [v for value in node.values for v in _literals(value, constants)]
    return []


def _keys_in_code() -> set[str]:
    """Template keys and outbox kinds written anywhere in coachbox/ (the sender looks a row up by either)."""
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in ROOT.rglob("*.py")]
    constants = {
        t.id: n.value.value
        for tree in trees
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    keys = {"reply"}  # Reply's and OutboxDraft's default kind
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            for kw in node.keywords:
                if kw.arg in ("template_key", "template") or (kw.arg == "kind" and name in WRITERS):
                    keys.update(_literals(kw.value, constants))
    return keys | set(TEMPLATE_FOR.values()) | {t.key for t in TEMPLATES}


def test_it_documents_every_template_key_the_code_can_look_up():
    keys = _keys_in_code()
    assert {
        "lesson_nudge",
        "reminder",
        "summary",
        "certificate",
        "broadcast",
        "admin",
        "payment",
        "quick_reply_2",
        "quick_reply_3",
        "nudge",
        "tutor_ai",
    } <= keys  # the scan finds what it should
    doc = DOC.read_text(encoding="utf-8")
    assert [k for k in sorted(keys) if f"`{k}`" not in doc] == []
    assert "`<kind>.continued`" in doc  # long messages' later parts


def test_it_gives_each_proactive_template_a_category_and_examples_in_english_and_kiswahili():
    doc = DOC.read_text(encoding="utf-8")
    for template in TEMPLATES:
        if template.waits:
            section = doc[doc.index(f"#### `{template.key}`") :]
            section = section[: section.index("\n####", 1)]
            assert "Category **" in section and "- English:" in section and "- Kiswahili:" in section, template.key
    assert "[twilio.templates]" in doc and "COACHBOX_TWILIO_TEMPLATES" in doc and "ContentSid" in doc


def _template_findings(settings):
    """_check_channel's findings after the account's, less the clock's (tests/channels/test_clock_skew.py)."""
    return [f for f in _check_channel(settings)[1:] if "clock" not in f.what]


def test_it_reports_configured_and_missing_templates_in_the_check(settings, twilio_double):
    s = twilio_settings_for(
        settings,
        twilio_double.url,
        templates={"lesson_nudge": "HX" + "1" * 32, "reminder": {"sid": "HX" + "2" * 32}, "summary": ""},
    )
    configured, warn, buttons = _template_findings(s)
    assert (configured.level, configured.what) == ("info", "WhatsApp templates configured: lesson_nudge, reminder")
    assert (
        buttons.level == "info" and "quick_reply_2, quick_reply_3" in buttons.what and "numbered text" in buttons.what
    )
    assert warn.level == "warn"
    assert "summary, certificate, payment, broadcast, admin" in warn.what and "wait" in warn.what
    assert "docs/twilio.md" in warn.fix
    everything = {t.key: "HX" + "3" * 32 for t in TEMPLATES}
    [ok] = _template_findings(twilio_settings_for(settings, twilio_double.url, templates=everything))
    assert ok.level == "ok" and "quick_reply_3" in ok.what
    assert _template_findings(twilio_settings_for(settings, twilio_double.url, whatsapp_from="", templates={})) == []
