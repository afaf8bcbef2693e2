"""Reading the WhatsApp rate card: the shipped TOML file or [costs] rate_card, with [costs.rates] overrides laid over it."""

from __future__ import annotations

import re
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from coachbox.core.costs import RateCard, RateCardError, merge, parse_rate_card

SHIPPED_NAME = "whatsapp-2026-07.toml"
# The repository's (and the Docker image's) content/rates/: used when the content folder has no rates/ of its own.
SHIPPED = Path(__file__).resolve().parents[2] / "content" / "rates" / SHIPPED_NAME

_lock = threading.Lock()
_cache: dict[tuple, RateCard] = {}
_WHERE = re.compile(r"^(?P<file>.*?): (?P<dotted>(?:markets|providers)\.[^ :]+|[a-z_]+)")


def card_path(settings) -> Path:
    """The rate card in use: [costs] rate_card, else content/rates/ in the content folder, else the shipped one."""
    if settings.costs.rate_card:
        return settings.resolve(settings.costs.rate_card)
    local = settings.content_dir / "rates" / SHIPPED_NAME
    return local if local.is_file() else SHIPPED


# Every message in and out asks for the card: finding and stat-ing its file each time was ~5 % of a webhook's CPU
# (bench/webhook_bench.py with py-spy), so a card found is trusted for this long before its file is looked at again.
RECHECK_SECONDS = 30.0
_recent: dict[tuple, tuple[float, RateCard]] = {}


def load_rate_card(settings) -> RateCard:
    """The rate card for these settings (cached per file version and overrides, the file re-checked every
    RECHECK_SECONDS); RateCardError names file, line and key when it cannot be used."""
    wanted = (settings.root, settings.paths.content_dir, settings.costs.rate_card, repr(settings.costs.rates))
    now = time.monotonic()
    recent = _recent.get(wanted)
    if recent is not None and now - recent[0] < RECHECK_SECONDS:
        return recent[1]
    card = _load_rate_card(settings)
    _recent[wanted] = (now, card)
    return card


def _load_rate_card(settings) -> RateCard:
    path = card_path(settings)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        source = "costs.rate_card" if settings.costs.rate_card else "the shipped rate card"
        raise RateCardError(f"{path}: cannot read {source} ({exc.strerror}); fix the path or remove the key.") from None
    key = (str(path), stamp, repr(sorted(settings.costs.rates.items())))
    with _lock:
        if key in _cache:
            return _cache[key]
    card = read_rate_card(path, settings.costs.rates)
    with _lock:
        _cache[key] = card
    return card


def read_rate_card(path: Path, overrides: dict[str, Any] | None = None) -> RateCard:
    """Parse one rate-card file, with overrides ([costs.rates] in coachbox.toml) laid over it."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RateCardError(f"{path}: not valid TOML ({exc}); fix that line.") from None
    if overrides:
        try:
            return parse_rate_card(merge(data, overrides), "coachbox.toml [costs.rates] over " + str(path))
        except RateCardError:
            pass  # said below against the file, if the file itself is at fault
    try:
        card = parse_rate_card(data, str(path))
    except RateCardError as exc:
        raise RateCardError(_with_line(str(exc), text)) from None
    if overrides:
        return parse_rate_card(merge(data, overrides), "coachbox.toml [costs.rates] over " + str(path))
    return card


def _with_line(message: str, text: str) -> str:
    """'file: markets.KE.utility …' → 'file:12: markets.KE.utility …' when the key's line can be found."""
    found = _WHERE.match(message)
    if not found:
        return message
    parts = found["dotted"].split(".")
    line = _line_of(text, parts[:-1], parts[-1]) if len(parts) > 1 else _line_of(text, [], parts[0])
    if line is None and len(parts) == 2:
        line = _line_of(text, parts, None)
    if line is None:
        return message
    return f"{found['file']}:{line}: {message[len(found['file']) + 2 :]}"


def _line_of(text: str, table: list[str], key: str | None) -> int | None:
    """Line number (1-based) of `key` under the table [a.b], or of the table header when key is None."""
    header = (
        re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(rf'"?{re.escape(p)}"?' for p in table) + r"\s*\]") if table else None
    )
    inside = header is None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = bool(header and header.match(line))
            if inside and key is None:
                return number
            continue
        if inside and key is not None and re.match(rf'^\s*"?{re.escape(key)}"?\s*=', line):
            return number
    return None
