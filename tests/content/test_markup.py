"""Splitting lesson text into WhatsApp-sized messages, and the authoring hints for WhatsApp markup."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coachbox.content.markup import lesson_text, lint_markup, split_message


def _squash(text: str) -> str:
    return "".join(text.split())


def test_it_leaves_a_short_text_whole():
    assert split_message("  *Hello*\n\nworld \n") == ["*Hello*\n\nworld"]
    assert split_message("   ") == []


def test_it_splits_at_paragraph_boundaries_first():
    paragraphs = ["a" * 50, "b" * 50, "c" * 50]
    assert split_message("\n\n".join(paragraphs), limit=110) == ["a" * 50 + "\n\n" + "b" * 50, "c" * 50]


def test_it_falls_back_to_lines_then_sentences_then_words():
    assert split_message("one line here\nsecond line", limit=15) == ["one line here", "second line"]
    assert split_message("First one. Second one. Third.", limit=12) == ["First one.", "Second one.", "Third."]
    assert split_message("alpha beta gamma", limit=6) == ["alpha", "beta", "gamma"]
    assert split_message("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]


def test_it_keeps_a_code_block_whole_when_it_fits():
    code = "```\nfor i in range(3):\n\n    print(i)\n```"
    text = "Intro paragraph.\n\n" + code + "\n\nAfter."
    parts = split_message(text, limit=len(code) + 2)
    assert code in parts


def test_it_splits_a_code_block_only_when_it_alone_is_too_long():
    code = "```\n" + "\n".join(f"print({i})" for i in range(20)) + "\n```"
    parts = split_message(code, limit=60)
    assert all(len(part) <= 60 for part in parts) and len(parts) > 1
    assert _squash("".join(parts)) == _squash(code)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(alphabet="ab .!\n*_`", max_size=80), st.sampled_from(["```", "\n\n", "```\ncode\n```"])),
        max_size=30,
    ).map("".join),
    st.integers(min_value=1, max_value=120),
)
def test_it_keeps_every_part_within_the_limit_and_loses_only_whitespace(text, limit):
    parts = split_message(text, limit=limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert _squash("".join(parts)) == _squash(text)


def test_it_renders_a_lesson_as_a_bold_title_and_its_body():
    assert lesson_text("PIN", "Keep it secret.") == "*PIN*\n\nKeep it secret."


def test_it_points_at_markdown_that_whatsapp_shows_literally():
    body = "Fine *bold*\n## Heading\n```\n**inside code is fine**\n```\nsee [docs](http://x)\n```\nopen"
    assert [(line, message) for line, message, _ in lint_markup(body)] == [
        (2, "Markdown headings are not formatted on WhatsApp"),
        (6, "Markdown links are not formatted on WhatsApp"),
        (7, "``` block is never closed"),
    ]
