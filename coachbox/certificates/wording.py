"""Learner-facing sentences for certificates and the tutor, read from content/locales/<lang>.toml."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from coachbox.core.config import Settings

FALLBACK_LANGUAGE = "en"


@functools.lru_cache(maxsize=32)
def _read(path: str, mtime_ns: int) -> dict[str, Any]:
    # mtime in the key: an edited locale file is picked up without a restart.
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


def _locale(settings: Settings, language: str) -> dict[str, Any]:
    path = settings.content_dir / "locales" / f"{language}.toml"
    try:
        return _read(str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        return {}


def table(settings: Settings, language: str, name: str) -> dict[str, Any]:
    """One [table] of the learner's locale, with the fallback language's keys filling any gaps."""
    merged = dict(_locale(settings, FALLBACK_LANGUAGE).get(name, {}))
    if language != FALLBACK_LANGUAGE:
        merged.update(_locale(settings, language).get(name, {}))
    return merged


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unknown placeholder stays visible rather than crashing a send


def phrase(settings: Settings, language: str, key: str, **values: Any) -> str:
    """'tutor.excerpt' → the sentence in the learner's language, placeholders filled."""
    name, _, item = key.partition(".")
    text = table(settings, language, name).get(item)
    if not isinstance(text, str):
        raise KeyError(f"locale key {key} is missing from {FALLBACK_LANGUAGE}.toml")
    return text.format_map(_Keep(values))
