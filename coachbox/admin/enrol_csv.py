"""Bulk enrolment's CSV: read the upload, normalise phone numbers, and check every row into a plan to preview."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass, field

import phonenumbers

from coachbox.learning.timeparse import parse_lesson_time
from coachbox.store import enrolments

COLUMNS = ("phone", "name", "course", "cohort", "language", "lesson_time")
MAX_ROWS = 5000  # one upload; a school splits a bigger list (the preview page must stay readable)
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class EnrolRow:
    line: int  # the CSV line number, as a spreadsheet shows it (header = 1)
    phone: str  # as typed
    e164: str | None = None
    name: str = ""
    course_id: int | None = None
    course_title: str = ""
    cohort: str = ""
    language: str = ""
    lesson_time: str = ""
    learner_id: int | None = None  # an existing learner with this number: updated, not created
    opted_out: bool = False
    errors: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        return "error" if self.errors else ("update" if self.learner_id else "create")


@dataclass
class EnrolPlan:
    rows: list[EnrolRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # whole-file problems (no header, too big…)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def valid(self) -> list[EnrolRow]:
        return [r for r in self.rows if not r.errors]


def normalise_phone(text: str, region: str) -> str | None:
    """'0712 345 678' (region KE) or '+254712345678' → '+254712345678'; None when it is not a valid number."""
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def read_csv(text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line, {column: value}) per data row, and whole-file problems. Header names are case-insensitive."""
    if len(text) > MAX_BYTES:
        return [], [f"The file is larger than {MAX_BYTES // 1000:,} kB: split it."]
    text = text.lstrip("\ufeff")  # Excel's UTF-8 BOM
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = [h.strip().lower().replace(" ", "_") for h in next(reader, [])]
    if "phone" not in header:
        return [], ["The first line must name the columns: " + ", ".join(COLUMNS) + " (phone is required)."]
    unknown = [h for h in header if h and h not in COLUMNS]
    problems = [f"Unknown column{'s' if len(unknown) > 1 else ''} ignored: {', '.join(unknown)}."] if unknown else []
    rows: list[tuple[int, dict[str, str]]] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            problems.append(f"Only the first {MAX_ROWS:,} rows are read: split the file.")
            break
        values = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h in COLUMNS}
        rows.append((reader.line_num, values))
    if not rows:
        problems.append("The file has no rows under its header.")
    return rows, problems


def plan(
    conn: sqlite3.Connection, text: str, *, region: str, languages: tuple[str, ...], default_language: str
) -> EnrolPlan:
    """Check every row (phone, course, language, time, duplicates) and say what applying it would do."""
    raw_rows, problems = read_csv(text)
    courses = enrolments.course_slugs(conn)
    seen: dict[str, int] = {}
    result = EnrolPlan(problems=problems)
    for line, v in raw_rows:
        errors = []
        phone = v.get("phone", "")
        e164 = normalise_phone(phone, region) if phone else None
        if not phone:
            errors.append("no phone number")
        elif e164 is None:
            errors.append(f"“{phone}” is not a valid phone number (write it as +2547… or with the country chosen)")
        elif e164 in seen:
            errors.append(f"same phone as line {seen[e164]}")
        else:
            seen[e164] = line
        course = None
        if v.get("course"):
            course = courses.get(v["course"].lower())
            if course is None:
                errors.append(
                    f"unknown course “{v['course']}” (use the course's short name, e.g. "
                    f"{', '.join(sorted(courses)[:3]) or 'none yet'})"
                )
        language = (v.get("language") or "").lower()
        if language and language not in languages:
            errors.append(f"unknown language “{v['language']}” (one of {', '.join(languages)})")
        lesson_time = ""
        if v.get("lesson_time"):
            lesson_time = parse_lesson_time(v["lesson_time"]) or ""
            if not lesson_time:
                errors.append(f"“{v['lesson_time']}” is not a time of day (e.g. 07:00 or 7pm)")
        if len(v.get("name", "")) > 100 or len(v.get("cohort", "")) > 80:
            errors.append("name (100) or cohort (80 characters) too long")
        existing = None
        if e164 and not errors:
            existing = enrolments.live_learner(conn, e164)
        result.rows.append(
            EnrolRow(
                line=line,
                phone=phone,
                e164=e164,
                name=v.get("name", ""),
                course_id=course["id"] if course else None,
                course_title=course["title"] if course else "",
                cohort=v.get("cohort", ""),
                language=language or ("" if existing else default_language),
                lesson_time=lesson_time,
                learner_id=existing["id"] if existing else None,
                opted_out=bool(existing and existing["opted_out"]),
                errors=tuple(errors),
            )
        )
    return result
