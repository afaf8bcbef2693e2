"""WhatsApp formatting as HTML for the admin's bubbles: what WhatsApp formats, and no text that makes a tag of its own."""

from __future__ import annotations

import html
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from coachbox.admin.whatsapp_format import whatsapp_html

ALLOWED = {"strong", "em", "s", "code", "pre", "br", "ul", "ol", "li", "blockquote", "a"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def parsed(text: str) -> Tags:
    tags = Tags()
    tags.feed(str(whatsapp_html(text)))
    tags.close()
    return tags


def test_it_formats_what_whatsapp_formats():
    out = str(
        whatsapp_html("*Keep your PIN secret*\n_never_ share ~it~ ```1234```\n\n- one\n* two\n1. first\n> quoted")
    )
    assert out == (
        "<strong>Keep your PIN secret</strong><br><em>never</em> share <s>it</s> <code>1234</code><br>"
        '<ul><li>one</li><li>two</li></ul><ol><li value="1">first</li></ol><blockquote>quoted</blockquote>'
    )


def test_it_keeps_a_code_block_as_typed():
    assert str(whatsapp_html("```\nprint(*x*)\n```")) == "<pre>print(*x*)</pre>"


def test_it_links_http_and_https_only_and_never_opens_them_with_this_pages_rights():
    out = str(whatsapp_html("see https://safaricom.co.ke/pin?a=1&b=2. or javascript:alert(1) or ftp://x"))
    assert (
        '<a href="https://safaricom.co.ke/pin?a=1&amp;b=2" rel="noopener noreferrer nofollow" target="_blank">' in out
    )
    assert out.count("<a ") == 1 and "javascript:alert(1)" in out  # as text
    assert out.endswith("</a>. or javascript:alert(1) or ftp://x")


def test_it_leaves_snake_case_and_lone_marks_alone():
    for text in ("snake_case_name", "2 * 3 * 4", "a ~ b", 'kept?: "A"', "the ___ amount", "**", "~~~"):
        assert "<" not in str(whatsapp_html(text)).replace("&lt;", "")


def test_hostile_text_stays_text():
    for text in (
        "<script>alert(1)</script>",
        '"onmouseover="alert(1)',
        'https://x.org/"onmouseover=alert(1)',
        "*<img src=x onerror=alert(1)>*",
        "https://x.org/<script>",
        "[a](javascript:alert(1))",
    ):
        tags = parsed(text)
        assert all(tag in ALLOWED for tag, _ in tags.tags), (text, tags.tags)
        assert "".join(tags.text).replace("\n", "") != "" or not text


MARKS = st.sampled_from(list("*_~`>-.1 \n\"'<>&=:/()[]") + ["http://", "https://", "javascript:", "```", "onerror="])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(MARKS, st.text(max_size=6)), max_size=30).map("".join))
def test_no_text_makes_a_tag_or_attribute_of_its_own(text):
    tags = parsed(text)
    for tag, attrs in tags.tags:
        assert tag in ALLOWED, (text, tag)
        names = [name for name, _ in attrs]
        if tag == "a":
            assert names == ["href", "rel", "target"], (text, attrs)
            href = dict(attrs)["href"] or ""
            assert href.startswith(("http://", "https://")) and not any(c in href for c in "\"'<> \n"), (text, href)
            assert dict(attrs)["rel"] == "noopener noreferrer nofollow" and dict(attrs)["target"] == "_blank"
        elif tag == "li":
            assert names in ([], ["value"]) and all((v or "").isdigit() for _, v in attrs), (text, attrs)
        else:
            assert names == [], (text, attrs)
    # Every character the learner typed is still there, as text (formatting marks and list markers aside).
    shown = html.unescape("".join(tags.text))
    for char in set(text) - set("*_~`>-.0123456789 \n\r"):
        assert char in shown or char in "".join(v or "" for _, a in tags.tags for _, v in a), (text, char)
