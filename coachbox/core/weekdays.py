"""Weekday lists as a school writes them ("mon-fri"): parsed once, for the settings and the schedule."""

from __future__ import annotations

NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday(): Monday is 0
EVERY_DAY: tuple[int, ...] = tuple(range(7))
# Longer spellings a teacher may type ("Monday", "tues", "thurs"); the first three letters decide.
_EVERY = {"", "all", "daily", "every day", "everyday", "mon-sun"}


def parse_lesson_days(text: str) -> tuple[int, ...]:
    """ "mon,tue,wed,thu,fri" (any case, full names too, "mon-fri" ranges) → (0, 1, 2, 3, 4); "" or "daily" → every
    day. Raises ValueError naming the part it cannot read."""
    spec = (text or "").strip().casefold()
    if spec in _EVERY:
        return EVERY_DAY
    days: set[int] = set()
    for part in (p.strip() for p in spec.replace(";", ",").split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        start = _day(first.strip(), part)
        end = _day(last.strip(), part) if dash else start
        day = start
        while True:
            days.add(day)
            if day == end:
                break
            day = (day + 1) % 7
    if not days:
        raise ValueError(f"no day in {text!r}")
    return tuple(sorted(days))


def _day(word: str, part: str) -> int:
    key = word[:3]
    if len(word) < 3 or key not in NAMES:
        raise ValueError(f"{part!r} is not a day (write mon, tue, wed, thu, fri, sat or sun)")
    return NAMES.index(key)


def describe(lesson_days: tuple[int, ...]) -> str:
    """(0, 1, 2, 3, 4) → "mon,tue,wed,thu,fri" (for messages and logs)."""
    return ",".join(NAMES[d] for d in sorted(lesson_days))
