"""Content problems with file:line and a hint, and a TOML document that knows which line each key is on."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

_TOML_WHERE = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
_HEADER = re.compile(r"^\s*\[")


class Where(TypedDict):
    """Where a value sits: the index-th [[table]] (or the top level when table is None)."""

    table: str | None
    index: int


@dataclass(frozen=True)
class ContentProblem:
    path: str  # relative to the content folder's parent, e.g. content/courses/x/01-intro.md
    line: int
    message: str
    hint: str = ""
    level: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return where + self.message + (f" ({self.hint})" if self.hint else "")


class Reporter:
    """Collects the problems of one parse, with paths shown relative to the content folder's parent."""

    def __init__(self, folder: Path) -> None:
        self.base = Path(folder).resolve().parent
        self.problems: list[ContentProblem] = []

    def relative(self, path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.base).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def add(self, path: Path, line: int, message: str, hint: str = "", *, level: str = "error") -> None:
        self.problems.append(ContentProblem(self.relative(path), line, message, hint, level))


def load_toml(path: Path, reporter: Reporter, *, text: str | None = None, offset: int = 0) -> TomlDoc | None:
    """Parse a TOML file (or front matter starting after `offset` lines); a syntax error becomes a problem."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            reporter.add(path, 1, "file is not UTF-8 text", "save it as UTF-8 in your editor")
            return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_WHERE.search(message)
        line = text.count("\n") + 1
        if match:
            message = message[: match.start()]
            if match.group(1):
                line = int(match.group(1))
                message += f" at column {match.group(2)}"
        what = "front matter is not valid TOML" if offset else "not valid TOML"
        hint = (
            "a key appears twice"
            if message.startswith("Cannot overwrite")
            else 'check the quotes, commas and brackets on this line; text needs "quotes"'
        )
        reporter.add(path, line + offset, f"{what}: {message}", hint)
        return None
    return TomlDoc(path, text.split("\n"), offset, reporter, data)


class TomlDoc:
    """One parsed TOML text, with typed getters that report problems at the line of the offending key."""

    def __init__(self, path: Path, lines: list[str], offset: int, reporter: Reporter, data: dict) -> None:
        self.path, self.lines, self.offset, self.reporter, self.data = path, lines, offset, reporter, data
        self.failed = False

    # -- where ---------------------------------------------------------------------------------
    def line(self, key: str | None = None, table: str | None = None, index: int = 0) -> int:
        """File line of `key` at top level, or in the index-th [[table]] (its header line when key is absent)."""
        start, end = 0, len(self.lines)
        if table is not None:
            header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
            headers = [i for i, text in enumerate(self.lines) if header.match(text)]
            if index >= len(headers):
                return self._file_line(self._key_index(table, 0, end))  # an inline `quiz = [{…}]`
            start = headers[index]
            if key is None:
                return self._file_line(start)
            start += 1
        end = next((i for i in range(start, end) if _HEADER.match(self.lines[i])), end)
        found = self._key_index(key, start, end) if key else None
        if found is None and table is not None:
            found = start - 1
        return self._file_line(found)

    def _key_index(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
        return next((i for i in range(start, end) if pattern.match(self.lines[i])), None)

    def _file_line(self, index: int | None) -> int:
        return (index + 1 if index is not None else 1) + self.offset

    # -- report --------------------------------------------------------------------------------
    def error(
        self,
        message: str,
        hint: str = "",
        *,
        key: str | None = None,
        table: str | None = None,
        index: int = 0,
        level: str = "error",
    ) -> None:
        self.reporter.add(self.path, self.line(key, table, index), message, hint, level=level)
        if level == "error":
            self.failed = True

    def unknown_keys(
        self, data: dict, allowed: tuple[str, ...], what: str, *, table: str | None = None, index: int = 0
    ) -> None:
        for key in data:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = (f"did you mean '{close[0]}'? " if close else "") + f"allowed: {', '.join(allowed)}"
            self.error(f"unknown key '{key}' in {what}", hint, key=key, table=table, index=index)

    # -- typed values --------------------------------------------------------------------------
    def text(
        self,
        data: dict,
        key: str,
        *,
        required: bool = False,
        default: str | None = None,
        allow_empty: bool = False,
        label: str = "",
        hint: str = "",
        table: str | None = None,
        index: int = 0,
    ) -> str | None:
        where: Where = {"table": table, "index": index}
        if key not in data:
            if required:
                message = f"{label} has no {key}" if label else f"missing required key '{key}'"
                self.error(message, hint or f'add {key} = "…"', **where)
            return default
        value = data[key]
        prefix = f"{label}: " if label else ""
        if not isinstance(value, str):
            self.error(f"{prefix}{key} must be text", f'write {key} = "…" with quotes', key=key, **where)
            return None
        if not allow_empty and not value.strip():
            self.error(
                f"{prefix}{key} is empty",
                hint or f'write something between the quotes of {key} = "…"',
                key=key,
                **where,
            )
            return None
        return value

    def integer(
        self,
        data: dict,
        key: str,
        *,
        default: int,
        low: int | None = None,
        high: int | None = None,
        label: str = "",
        table: str | None = None,
        index: int = 0,
    ) -> int | None:
        if key not in data:
            return default
        value: Any = data[key]
        prefix = f"{label}: " if label else ""
        where: Where = {"table": table, "index": index}
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(
                f"{prefix}{key} must be a whole number", f"write {key} = {default}, without quotes", key=key, **where
            )
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.error(f"{prefix}{key} = {value} is out of range", f"use a number {span}", key=key, **where)
            return None
        return value

    def boolean(self, data: dict, key: str, *, default: bool, label: str = "") -> bool | None:
        if key not in data:
            return default
        if not isinstance(data[key], bool):
            prefix = f"{label}: " if label else ""
            self.error(
                f"{prefix}{key} must be true or false", f"write {key} = true or {key} = false, without quotes", key=key
            )
            return None
        return data[key]
