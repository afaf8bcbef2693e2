"""WhatsApp formatting as safe HTML for the admin's chat bubbles: escape every character first, then format."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# What WhatsApp formats (https://faq.whatsapp.com/539178204879377): *bold*, _italic_, ~strike~, ```mono```,
# `inline code`, "- " / "* " bulleted and "1. " numbered lists, "> " quotes. Links: http and https only.
_FENCE = "```"
# Runs on escaped text: the only entities escape() makes are &amp; &lt; &gt; &#34; &#39;, so a link stops at any
# of them but &amp; (a query string's separator). Trailing punctuation is the sentence's, not the address's.
_URL = re.compile(r"https?://(?:[^\s&]|&amp;)+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
_CODE = re.compile(r"```(.+?)```|`([^`\n]+)`")
_EMPHASIS = (
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=[^\s~])([^~\n]*?[^\s~])~(?![\w~])"), "s"),
)
_BULLET = re.compile(r"^[-*•] (.*)$")
_NUMBERED = re.compile(r"^(\d{1,4})\. (.*)$")
_QUOTE = "&gt; "
LINK_ATTRIBUTES = 'rel="noopener noreferrer nofollow" target="_blank"'


def whatsapp_html(text: str | None) -> Markup:
    """A message body as WhatsApp shows it, as HTML that no text can turn into a tag or attribute of its own.

    The whole text is escaped before anything else; the formatting then only wraps escaped text in a fixed set of
    tags (strong, em, s, code, pre, br, ul, ol, li, blockquote, a), and a link's address is an escaped http(s) URL
    inside double quotes, which escaped text cannot close.
    """
    if not text:
        return Markup("")
    lines = str(escape(text)).replace("\r\n", "\n").split("\n")
    out: list[str] = []
    block: list[str] = []  # consecutive plain lines, joined with <br>
    items: list[str] = []
    list_tag = ""

    def flush_text() -> None:
        if block:
            out.append("<br>".join(_inline(line) for line in block))
            block.clear()

    def flush_list() -> None:
        nonlocal list_tag
        if items:
            out.append(f"<{list_tag}>" + "".join(items) + f"</{list_tag}>")
            items.clear()
        list_tag = ""

    index = 0
    while index < len(lines):
        line = lines[index]
        if line.strip().startswith(_FENCE) and line.count(_FENCE) % 2 == 1:
            # A ``` block over several lines: shown as typed, nothing inside it is formatted.
            closing = next((j for j in range(index + 1, len(lines)) if _FENCE in lines[j]), None)
            if closing is not None:
                before = line.split(_FENCE, 1)[0]  # blank before the fence (str.strip() blanks, e.g. \x1f): kept
                if before:
                    block.append(before)
                flush_text()
                flush_list()
                inner = [line.split(_FENCE, 1)[1]] + lines[index + 1 : closing] + [lines[closing].split(_FENCE, 1)[0]]
                out.append("<pre>" + "\n".join(inner).strip("\n") + "</pre>")
                rest = lines[closing].split(_FENCE, 1)[1]
                index = closing + 1
                if rest.strip():
                    block.append(rest)
                continue
        bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
        if bullet or numbered:
            flush_text()
            tag = "ul" if bullet else "ol"
            if tag != list_tag:
                flush_list()
                list_tag = tag
            if numbered:
                items.append(f'<li value="{int(numbered.group(1))}">{_inline(numbered.group(2))}</li>')
            elif bullet:
                items.append(f"<li>{_inline(bullet.group(1))}</li>")
        elif line.startswith(_QUOTE):
            flush_text()
            flush_list()
            out.append(f"<blockquote>{_inline(line[len(_QUOTE) :])}</blockquote>")
        else:
            flush_list()
            block.append(line)
        index += 1
    flush_text()
    flush_list()
    return Markup("".join(out))


def _inline(escaped: str) -> str:
    """One escaped line: code spans and links are kept whole; bold, italic and strike apply to the text between."""
    out: list[str] = []
    position = 0
    for match in _CODE.finditer(escaped):
        out.append(_links(escaped[position : match.start()]))
        out.append(f"<code>{match.group(1) or match.group(2)}</code>")
        position = match.end()
    out.append(_links(escaped[position:]))
    return "".join(out)


def _links(escaped: str) -> str:
    out: list[str] = []
    position = 0
    for match in _URL.finditer(escaped):
        url = match.group()
        trimmed = url.rstrip(_TRAILING)
        if trimmed.count("(") > trimmed.count(")") and url[len(trimmed) : len(trimmed) + 1] == ")":
            trimmed += ")"  # https://en.wikipedia.org/wiki/Nairobi_(city)
        if len(trimmed) <= len("https://"):
            continue
        out.append(_emphasis(escaped[position : match.start()]))
        out.append(f'<a href="{trimmed}" {LINK_ATTRIBUTES}>{trimmed}</a>')
        position = match.start() + len(trimmed)
    out.append(_emphasis(escaped[position:]))
    return "".join(out)


def _emphasis(escaped: str) -> str:
    for pattern, tag in _EMPHASIS:
        escaped = pattern.sub(rf"<{tag}>\1</{tag}>", escaped)
    return escaped
