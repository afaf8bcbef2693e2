"""Office hours ("mon-fri 08:00-16:00; sat 09:00-12:00"), pure: parsed once, asked "open now?" and "opens when?"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEGMENT = re.compile(r"^(?P<days>[a-z,\-\s]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Span:
    """One line of office hours: these weekdays (0 = Monday), from start to end (local time, end excluded)."""

    days: tuple[int, ...]
    start: time
    end: time


@dataclass(frozen=True)
class OfficeHours:
    spans: tuple[Span, ...]

    def is_open(self, local: datetime) -> bool:
        """Is `local` (a time in the office's zone) inside the hours?"""
        moment = local.time().replace(tzinfo=None)
        return any(local.weekday() in s.days and s.start <= moment < s.end for s in self.spans)

    def next_opening(self, local: datetime) -> datetime:
        """The next start of office hours after `local` (same zone), within the coming 8 days."""
        best: datetime | None = None
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            for span in self.spans:
                if day.weekday() not in span.days:
                    continue
                opening = datetime.combine(day, span.start, tzinfo=local.tzinfo)
                if opening > local and (best is None or opening < best):
                    best = opening
            if best is not None:
                return best
        raise ValueError("office hours name no day")  # parse() refuses hours without days


def _day(name: str, text: str) -> int:
    key = name.strip()[:3]
    if key not in DAYS:
        raise ValueError(f"{name.strip()!r} in {text!r} is not a weekday (write mon, tue, wed, thu, fri, sat or sun)")
    return DAYS.index(key)


def _time(value: str, text: str) -> time:
    hh, _, mm = value.partition(":")
    if not (int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"{value!r} in {text!r} is not a time of day (HH:MM, 00:00 to 23:59)")
    return time(int(hh), int(mm))


def parse(text: str) -> OfficeHours:
    """Parse "mon-fri 08:00-16:00", "mon,wed 09:00-12:00; sat 09:00-11:00" (days in English, 24-hour times).
    Raises ValueError saying what is wrong and what to write instead."""
    spans = []
    for part in (p.strip().lower() for p in text.split(";")):
        if not part:
            continue
        match = _SEGMENT.match(part)
        if match is None:
            raise ValueError(f'{part!r} is not like "mon-fri 08:00-16:00" (weekdays, a space, then HH:MM-HH:MM)')
        days: list[int] = []
        for item in match["days"].split(","):
            first, dash, last = item.partition("-")
            if dash:
                lo, hi = _day(first, text), _day(last, text)
                days.extend(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)])
            else:
                days.append(_day(first, text))
        start, end = _time(match["start"], text), _time(match["end"], text)
        if end <= start:
            raise ValueError(f"{part!r}: the hours must end after they start (e.g. 08:00-16:00)")
        spans.append(Span(tuple(sorted(set(days))), start, end))
    if not spans:
        raise ValueError('no office hours given (write e.g. "mon-fri 08:00-16:00")')
    return OfficeHours(tuple(spans))
