"""Locale files (locales/<lang>.toml), checked generically: en.toml is the reference every language must match."""

from __future__ import annotations

import re
from pathlib import Path

from coachbox.content.problems import Reporter, TomlDoc, load_toml

REFERENCE = "en"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TABLE = re.compile(r"""^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$""")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def parse_locales(folder: Path, report: Reporter) -> tuple[dict[str, dict], set[str]]:
    """(language → nested dict of strings, languages that have a file). Problems go to `report`."""
    if not folder.is_dir():
        return {}, set()
    files = sorted(folder.glob("*.toml"))
    languages = {path.stem for path in files}
    docs: dict[str, TomlDoc] = {}
    for path in files:
        doc = load_toml(path, report)
        if doc is not None:
            docs[path.stem] = doc
    flat = {lang: _flatten(doc, doc.data, "") for lang, doc in docs.items()}
    if files and REFERENCE not in languages:
        report.add(
            folder / f"{REFERENCE}.toml",
            0,
            f"there is no {REFERENCE}.toml",
            f"add locales/{REFERENCE}.toml: every other locale is checked against it",
        )
    reference = flat.get(REFERENCE)
    if reference is not None:
        for lang, values in flat.items():
            if lang != REFERENCE:
                _compare(docs[lang], reference, values)
    return {lang: doc.data for lang, doc in docs.items()}, languages


def _flatten(doc: TomlDoc, data: dict, prefix: str) -> dict[str, str | list]:
    out: dict[str, str | list] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(doc, value, dotted + "."))
        elif isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            out[dotted] = value
        else:
            doc.reporter.add(
                doc.path,
                key_line(doc.lines, dotted),
                f"'{dotted}' must be text (or a list of texts)",
                f'write {key} = "…" with quotes',
            )
    return out


def _compare(doc: TomlDoc, reference: dict, values: dict) -> None:
    name = f"{REFERENCE}.toml"
    for key, wanted in reference.items():
        if key not in values:
            doc.reporter.add(
                doc.path,
                key_line(doc.lines, key),
                f"missing key '{key}' that {name} has",
                f"copy it from {name} and translate it",
            )
            continue
        given = values[key]
        if isinstance(given, str) != isinstance(wanted, str):
            kind = "text" if isinstance(wanted, str) else "a list of texts"
            doc.reporter.add(
                doc.path,
                key_line(doc.lines, key),
                f"'{key}' must be {kind}, as in {name}",
                f"make it the same kind of value as in {name}",
            )
        elif isinstance(given, str):
            extra = sorted(set(PLACEHOLDER.findall(given)) - set(PLACEHOLDER.findall(wanted)))
            if extra:
                allowed = ", ".join("{" + p + "}" for p in sorted(set(PLACEHOLDER.findall(wanted)))) or "none"
                doc.reporter.add(
                    doc.path,
                    key_line(doc.lines, key),
                    f"'{key}' uses {', '.join('{' + p + '}' for p in extra)}, which {name} does not have",
                    f"placeholders must be spelled as in {name}; allowed here: {allowed}",
                )
    for key in sorted(values.keys() - reference.keys()):
        doc.reporter.add(
            doc.path,
            key_line(doc.lines, key),
            f"key '{key}' is not in {name}, so it is never used",
            f"remove it, or add it to {name} first",
            level="warning",
        )


def key_line(lines: list[str], dotted: str) -> int:
    """Line of a dotted key in a TOML text; for a missing key, the header of its nearest table (else 1)."""
    table, headers = "", {}
    for number, line in enumerate(lines, start=1):
        match = _TABLE.match(line)
        if match:
            table = _normalise(match.group(1))
            headers[table] = number
            continue
        match = _KEY.match(line)
        if match and (f"{table}." if table else "") + _normalise(match.group(1)) == dotted:
            return number
    parts = dotted.split(".")
    for size in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:size]) in headers:
            return headers[".".join(parts[:size])]
    return 1


def _normalise(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))
