"""Everything the bot says, per language, from content/locales/<lang>.toml: {placeholder} texts and keywords."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coachbox.learning.grading import normalise

FALLBACK = "en"


class _Keep(dict):
    """format_map helper: an unknown {placeholder} stays visible instead of crashing a learner's turn."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Texts:
    """Locale tables by language code; read-only once loaded."""

    locales: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # language → keyword list name → normalised words (that language's and English): built once, read per turn
    _index: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict, init=False, repr=False, compare=False)
    # keyword list name → normalised words of every language (STOP and START work whatever the learner's language)
    _everywhere: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {
            k.removeprefix("keywords.") for table in self.locales.values() for k in table if k.startswith("keywords.")
        }
        for code in self.locales:
            self._index[code] = {name: frozenset(normalise(w) for w in self.words(code, name)) for name in names}
        for name in names:
            self._everywhere[name] = frozenset(normalise(w) for w in self.all_words(name))

    @classmethod
    def load(cls, folder: str | Path) -> Texts:
        """Every <lang>.toml in the folder; a file's stem is its language code."""
        locales: dict[str, dict[str, Any]] = {}
        for path in sorted(Path(folder).glob("*.toml")):
            with path.open("rb") as fh:
                locales[path.stem] = _flatten(tomllib.load(fh))
        return cls(locales)

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes, English first (the fallback), the rest alphabetically."""
        return tuple(sorted(self.locales, key=lambda code: (code != FALLBACK, code)))

    def language_name(self, code: str) -> str:
        return str(self.locales.get(code, {}).get("meta.name", code))

    def has(self, language: str) -> bool:
        return language in self.locales

    def raw(self, language: str, key: str) -> Any:
        for code in (language, FALLBACK):
            value = self.locales.get(code, {}).get(key)
            if value is not None:
                return value
        return None

    def t(self, language: str, key: str, /, **values: Any) -> str:
        """The text for key ('section.name') in this language, falling back to English, then to the key."""
        value = self.raw(language, key)
        if value is None:
            return key
        if isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        return str(value).format_map(_Keep(values)) if values or "{" in str(value) else str(value)

    def words(self, language: str, key: str) -> tuple[str, ...]:
        """Keyword list 'keywords.<key>' for this language plus English (English works everywhere)."""
        found: list[str] = []
        for code in (language, FALLBACK):
            value = self.locales.get(code, {}).get(f"keywords.{key}") or []
            found.extend(str(v) for v in value)
        return tuple(dict.fromkeys(found))

    def is_word(self, language: str, key: str, said: str) -> bool:
        """Is this (already normalised) text one of the keywords `key` in this language or English?"""
        table = self._index.get(language) or self._index.get(FALLBACK) or {}
        return said in table.get(key, ())

    def is_any_word(self, key: str, said: str) -> bool:
        """Is this (already normalised) text one of the keywords `key` in any installed language?"""
        return said in self._everywhere.get(key, ())

    def all_words(self, key: str) -> tuple[str, ...]:
        """Keyword list from every locale (true/false answers, greetings: accepted whatever the language)."""
        found: list[str] = []
        for code in self.languages:
            found.extend(str(v) for v in self.locales[code].get(f"keywords.{key}") or [])
        return tuple(dict.fromkeys(found))


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
