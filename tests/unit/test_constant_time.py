"""Secrets compared with what a request sent: odd characters are a refusal, never a TypeError (a 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coachbox.channels.meta.webhook import signature_ok as meta_signature_ok
from coachbox.channels.signed_urls import resolve_signed
from coachbox.core import constant_time


def test_equal_compares_any_text_without_raising():
    assert constant_time.equal("abc", "abc")
    assert not constant_time.equal("abc", "ab\u00e9")  # hmac.compare_digest("abc", "ab\u00e9") raises TypeError
    assert not constant_time.equal("abc", "\ud800")  # a lone surrogate, as a decoded form field may hold
    assert constant_time.equal("caf\u00e9", "caf\u00e9")


def test_a_meta_signature_of_odd_characters_is_refused():
    assert not meta_signature_ok("app-secret", b"{}", "sha256=\u00e9\u00ff")


def test_a_signed_url_with_odd_characters_in_its_signature_is_refused(tmp_path):
    with pytest.raises(PermissionError):
        resolve_signed(
            tmp_path, "secret", 2_000_000_000, "\u00e9\u00ff", "media/a.jpg", datetime(2026, 3, 2, tzinfo=UTC)
        )
