"""Hostile input, pure: strict JSON bodies, text SQLite can store, spreadsheet-safe CSV cells, safe media types."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

MAX_JSON_DEPTH = 64  # deeper than any body we accept (Stripe's events nest about 6 levels)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BadBody(ValueError):
    """A request body we refuse to read; the message says why, for the caller and the log (never the body)."""


def parse_json(body: bytes | str, *, parse_float: Callable[[str], Any] | None = None, max_depth: int = MAX_JSON_DEPTH):
    """The JSON value in `body`, or BadBody: not UTF-8, not JSON, nested deeper than `max_depth`, or a string (key
    or value) with a lone surrogate ("\\ud800" as an escape: Python keeps it, SQLite's and Jinja's UTF-8 encoding
    then raise). Nothing here recurses in Python, so 100,000 brackets cost a RecursionError caught, not a crash."""
    if isinstance(body, bytes):
        try:
            # Decoded here, strictly: json.loads(bytes) would guess UTF-16/32 and let raw surrogates through.
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("the body is not UTF-8") from None
    else:
        text = body
    if _LONE_SURROGATE.search(text):
        raise BadBody("the body holds a lone surrogate (not valid Unicode)")
    try:
        value = json.loads(text, parse_float=parse_float or float)
    except RecursionError:
        raise BadBody(f"the JSON is nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise BadBody(f"the body is not JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError:  # an integer of more than 4,300 digits (Python's int limit)
        raise BadBody("the JSON holds a number too long to read") from None
    check_value(value, max_depth=max_depth)
    return value


def check_value(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """BadBody when a parsed JSON value nests deeper than `max_depth` or holds a lone surrogate (iteratively)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not item.isascii() and _LONE_SURROGATE.search(item):
                raise BadBody("the JSON holds a lone surrogate (\\ud800-\\udfff without its pair)")
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                raise BadBody(f"the JSON is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((inner, depth + 1) for inner in item.values())
            else:
                pending.extend((inner, depth + 1) for inner in item)


def clean_text(value: str) -> str:
    """`value` with every lone surrogate replaced by U+FFFD, so it can be encoded as UTF-8 (SQLite, Jinja, logs)."""
    return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)


# -- CSV exports ------------------------------------------------------------------------------------------------

# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula (tab and CR too: some
# programs strip them first). Prefixing a single quote makes it text; the quote shows, which is the point.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A cell that is a plain number ("-2.50", "+254712345678", "-1,000") is no formula: it stays a number.
_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d,]*(\.\d+)?")


def csv_cell(value: Any) -> Any:
    """One export cell: None → "", numbers unchanged, text starting a formula → "'" + text."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of an export row through csv_cell: every CSV writer calls this, so no column is forgotten."""
    return [csv_cell(value) for value in values]


# -- media --------------------------------------------------------------------------------------------------------

# What we keep and serve by its type: images, audio and video a page or WhatsApp shows, and PDF. Anything else (a
# sender may claim text/html or image/svg+xml) is stored as .bin and served as application/octet-stream.
SAFE_MEDIA = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "application/pdf": ".pdf",
}
UNSAFE_MEDIA = ("application/octet-stream", ".bin")
_BY_SUFFIX = {suffix: kind for kind, suffix in SAFE_MEDIA.items()} | {".jpeg": "image/jpeg", ".opus": "audio/ogg"}


def safe_media(content_type: str) -> tuple[str, str]:
    """(content type, file extension) to store a file a sender claims is `content_type`: the claim when it is on the
    allow-list, else application/octet-stream and .bin."""
    base = content_type.split(";")[0].strip().lower()
    if base in SAFE_MEDIA:
        return base, SAFE_MEDIA[base]
    return UNSAFE_MEDIA


def served_type(file_name: str) -> tuple[str, bool]:
    """(Content-Type, inline?) to serve a stored file by its extension: images, audio and video inline, PDF and
    everything else as a download (application/octet-stream when not on the allow-list)."""
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    kind = _BY_SUFFIX.get(suffix)
    if kind is None:
        return UNSAFE_MEDIA[0], False
    return kind, kind.split("/")[0] in ("image", "audio", "video")
