"""`coachbox check` and /healthz on a Meta box: the token and phone number id, the webhook token, the templates."""

from __future__ import annotations

import pytest

from coachbox.ops.checks import check_meta, run_checks
from coachbox.roots.app import create_app
from tests.doubles.meta_fixtures import meta_double, meta_settings, meta_settings_for, mservices  # noqa: F401


def _levels(findings) -> list[tuple[str, str]]:
    return [(f.level, f.what) for f in findings]


def test_it_verifies_the_token_and_phone_number_id(meta_settings, meta_double):
    findings = run_checks(meta_settings)
    assert "configuration loaded (channel: meta)" in findings[0].what
    ok = next(f for f in findings if "accepts the access token" in f.what)
    assert ok.level == "ok" and "+1 555-078-3881" in ok.what and "GREEN" in ok.what
    assert ("GET", "/v23.0/106540352242922") in [(m, p) for m, p, _ in meta_double.requests]


def test_a_refused_token_or_unknown_number_is_an_error_with_a_fix(settings, meta_double):
    bad_token = check_meta(meta_settings_for(settings, meta_double.url, access_token="EAAwrong"))
    assert bad_token[0].level == "error" and "refused the access token" in bad_token[0].what
    assert "COACHBOX_META_ACCESS_TOKEN" in bad_token[0].fix
    bad_number = check_meta(meta_settings_for(settings, meta_double.url, phone_number_id="999"))
    assert bad_number[0].level == "error" and "phone number id '999'" in bad_number[0].what
    unreachable = check_meta(meta_settings_for(settings, "http://127.0.0.1:9"))
    assert unreachable[0].level == "error" and "cannot reach" in unreachable[0].what


def test_it_lists_the_wabas_templates_and_warns_about_the_configured_ones(settings, meta_double):
    meta_double.add_template("daily_reminder", category="UTILITY")
    meta_double.add_template("lesson_ready", status="REJECTED")
    meta_double.add_template("weekly_summary", category="MARKETING")
    meta_double.add_template("paused_one", status="PAUSED", language="sw")
    meta_double.add_template("cert", category="UTILITY")
    configured = meta_settings_for(
        settings,
        meta_double.url,
        templates={
            "reminder": "daily_reminder",
            "lesson_nudge": "lesson_ready",
            "summary": "weekly_summary",
            "certificate": {"name": "paused_one", "language": "sw"},
            "payment": "not_there",
            "broadcast": "cert",
            "admin": {"name": "cert", "language": "fr"},
        },
    )
    findings = check_meta(configured)
    listing = next(f for f in findings if f.what.startswith("WhatsApp templates in the WABA"))
    assert (
        "daily_reminder (en, APPROVED, UTILITY)" in listing.what and "paused_one (sw, PAUSED, UTILITY)" in listing.what
    )
    warnings = [f.what for f in findings if f.level == "warn"]
    assert any("lesson_nudge = 'lesson_ready' (en) is REJECTED" in w for w in warnings)
    assert any("certificate = 'paused_one' (sw) is PAUSED" in w for w in warnings)
    assert any("summary = 'weekly_summary' (en) is categorised MARKETING" in w for w in warnings)
    assert any("payment = 'not_there' (en) is not in the WABA" in w for w in warnings)
    assert any("admin = 'cert' (fr) is not in the WABA; it exists in en" in w for w in warnings)
    assert not any("reminder = 'daily_reminder'" in w for w in warnings)
    assert not any("broadcast" in w for w in warnings)
    assert [p for m, p, _ in meta_double.requests if p.endswith("message_templates")] == [
        "/v23.0/102290129340398/message_templates"
    ] * 3  # pages of two


def test_an_empty_verify_token_or_waba_id_warns(settings, meta_double):
    findings = check_meta(meta_settings_for(settings, meta_double.url, verify_token="", waba_id=""))
    warnings = " ".join(f.what for f in findings if f.level == "warn")
    assert "verify_token is empty" in warnings and "waba_id is empty" in warnings


@pytest.mark.anyio
async def test_healthz_names_the_meta_channel(meta_settings, mservices):
    app = create_app(meta_settings, mservices)
    _, response = await app.asgi_client.get("/healthz")
    assert response.json["channel"] == "meta"
