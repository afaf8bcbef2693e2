"""`coachbox check` reports the certificate fonts it will use, and says clearly when one is missing."""

from __future__ import annotations

from coachbox.ops.checks import _check_fonts


def test_it_reports_the_configured_certificate_font(settings):
    findings = _check_fonts(settings)

    assert findings[0].level == "ok" and "DejaVuSans.ttf" in findings[0].what


def test_it_warns_with_a_fix_when_the_certificate_font_is_missing(settings, tmp_path):
    missing = settings.replace(org={"certificate_font": str(tmp_path / "Nope.ttf")})

    [finding] = _check_fonts(missing)

    assert finding.level == "warn" and "Nope.ttf is missing" in finding.what
    assert "fonts-dejavu-core" in finding.fix and "certificate_font" in finding.fix


def test_it_warns_about_a_missing_fallback_font(settings, tmp_path):
    changed = settings.replace(org={"certificate_fallback_fonts": str(tmp_path / "NotoSansEthiopic.ttf")})

    levels = [(f.level, "NotoSansEthiopic" in f.what) for f in _check_fonts(changed)]

    assert ("warn", True) in levels
