"""WhatsApp lesson markup: the text a lesson is sent as, splitting it into messages, and authoring hints."""

from __future__ import annotations

import re

# Twilio refuses a WhatsApp/SMS body over 1,600 characters (error 21617).
MESSAGE_LIMIT = 1600  # Twilio's body limit for one message (error 21617 beyond); the one place it is set
META_MESSAGE_LIMIT = 4096  # Meta's Cloud API: a text message's body (developers.facebook.com, messages API)
# A message with native buttons (Twilio quick replies, Meta reply buttons and lists) has at most this much body.
BUTTON_BODY_LIMIT = 1024
FENCE = "```"

# Split points, coarsest first. Each is a regex whose match is the whitespace between two pieces.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"[ \t]*\n")
_SENTENCE = re.compile(r"(?<=[.!?…:;])\s+")
_WORD = re.compile(r"\s+")


def message_limit(channel_kind: str) -> int:
    """The longest body one message may have on this channel ('meta', 'twilio', 'simulator'): 4,096 characters on
    Meta's Cloud API, Twilio's 1,600 elsewhere (the simulator shows what Twilio would send)."""
    return META_MESSAGE_LIMIT if channel_kind == "meta" else MESSAGE_LIMIT


def lesson_text(title: str, body: str) -> str:
    """What a lesson looks like as a message: the bold title, a blank line, the body."""
    return f"*{title}*\n\n{body}" if title else body


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split text into parts of at most `limit` characters, at the coarsest boundary that fits.

    Paragraphs first, then lines, then sentences, then words, and only then inside a word. A ``` block is
    kept whole unless it alone is longer than the limit. Only whitespace at the cut points is lost, so
    joining the parts gives back the text modulo whitespace.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    pieces = _pieces(text, 0, limit)
    parts: list[str] = []
    current = ""
    for sep, piece in pieces:
        if not current:
            current = piece
        elif len(current) + len(sep) + len(piece) <= limit:
            current += sep + piece
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return [part.rstrip() for part in parts if part.strip()]


def split_body(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """An outgoing body as messages of at most `limit` characters (never empty): the outbox's one splitter."""
    if len(text) <= limit:
        return [text]
    return split_message(text, limit) or [text[:limit]]


def _pieces(text: str, level: int, limit: int) -> list[tuple[str, str]]:
    """(separator before, piece) pairs, every piece within the limit; separators are the original whitespace."""
    units = _split_at(text, level)
    out: list[tuple[str, str]] = []
    for sep, unit in units:
        if len(unit) <= limit:
            out.append((sep, unit))
            continue
        sub = (
            _pieces(unit, level + 1, limit)
            if level < 5
            else [("", unit[i : i + limit]) for i in range(0, len(unit), limit)]
        )
        out.append((sep, sub[0][1]))
        out.extend(sub[1:])
    return out


def _split_at(text: str, level: int) -> list[tuple[str, str]]:
    if level == 0:
        return _split_regex(text, _PARAGRAPH, _fence_spans(text))
    if level == 1:
        return _split_regex(text, _LINE, _fence_spans(text))
    if level == 2:  # a ``` block longer than the limit: now its lines may be split too
        return _split_regex(text, _LINE, [])
    if level == 3:
        return _split_regex(text, _SENTENCE, [])
    if level == 4:
        return _split_regex(text, _WORD, [])
    return [("", text)]  # level 5: cut inside the word (handled by the caller)


def _split_regex(text: str, pattern: re.Pattern[str], protected: list[tuple[int, int]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    start, sep = 0, ""
    for match in pattern.finditer(text):
        if match.start() == 0 or any(a < match.start() < b for a, b in protected):
            continue
        piece = text[start : match.start()]
        if piece:
            out.append((sep, piece))
            sep = match.group()
        else:
            sep += match.group()
        start = match.end()
    if text[start:]:
        out.append((sep, text[start:]))
    return out or [("", text)]


def _fence_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of ``` blocks: a line with an odd number of ``` opens or closes one."""
    spans, opened, offset = [], None, 0
    for line in text.split("\n"):
        if line.count(FENCE) % 2 == 1:
            if opened is None:
                opened = offset
            else:
                spans.append((opened, offset + len(line)))
                opened = None
        offset += len(line) + 1
    if opened is not None:
        spans.append((opened, len(text)))
    return spans


def lint_markup(body: str) -> list[tuple[int, str, str]]:
    """Authoring slips that WhatsApp would show literally: (line within body, message, hint)."""
    found: list[tuple[int, str, str]] = []
    in_fence = False
    fence_line = 0
    for number, line in enumerate(body.split("\n"), start=1):
        if line.count(FENCE) % 2 == 1:
            in_fence = not in_fence
            fence_line = number
            continue
        if in_fence:
            continue
        if "**" in line:
            found.append((number, "'**' shows as two asterisks on WhatsApp", "use *single asterisks* for bold"))
        if re.match(r"#{1,6} ", line):
            found.append(
                (number, "Markdown headings are not formatted on WhatsApp", "write the heading as *bold text*")
            )
        if re.search(r"\[[^\]]+\]\([^)]+\)", line):
            found.append((number, "Markdown links are not formatted on WhatsApp", "write the plain URL instead"))
    if in_fence:
        found.append((fence_line, "``` block is never closed", "add a line with ``` where the block ends"))
    return found
