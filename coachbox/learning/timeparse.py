"""Lesson times as learners type them ('7', '7:30', '7pm', '19:00', '7.30am') and time zones from phone numbers."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

_TIME = re.compile(r"^(?P<h>\d{1,2})(?:\s*[:.h]\s*(?P<m>\d{2}))?\s*(?P<ampm>a\.?\s*m\.?|p\.?\s*m\.?)?$")


def parse_lesson_time(text: str) -> str | None:
    """'7' → '07:00', '7:30pm' → '19:30', '19:00' → '19:00'; None when it is not a time of day."""
    cleaned = (text or "").strip().lower()
    match = _TIME.match(cleaned)
    if not match:
        return None
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    ampm = (match.group("ampm") or "").replace(".", "").replace(" ", "")
    if minute > 59:
        return None
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif hour > 23:
        return None
    return f"{hour:02d}:{minute:02d}"


# Cached per process: every turn asks again for the same few numbers, and phonenumbers parsing is ~50 µs.
@functools.lru_cache(maxsize=8192)
def timezone_for_phone(phone: str | None, default: str) -> str:
    """The phone number's country time zone when it has exactly one region's zones, else the default."""
    if not phone:
        return default
    try:
        number = phonenumbers.parse(phone if phone.startswith("+") else "+" + phone, None)
    except phonenumbers.NumberParseException:
        return default
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    # A country spanning several zones (US, Brazil…) gives a list; the first is a fair guess, TIME overrides it.
    return zones[0] if zones and valid_timezone(zones[0]) else default


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def find_timezone(text: str) -> str | None:
    """A time zone name typed by a learner ('africa/kampala', 'Europe/London'), properly cased, or None."""
    candidate = (text or "").strip().replace(" ", "_")
    if "/" not in candidate or len(candidate) > 40:
        return None
    cased = "/".join(
        part[:1].upper() + part[1:].lower() if "_" not in part else "_".join(p.capitalize() for p in part.split("_"))
        for part in candidate.split("/")
    )
    for name in (candidate, cased):
        if valid_timezone(name):
            return name
    return None


def local_date(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def local_week_start(now: datetime, tz: str) -> datetime:
    """Monday 00:00 of the learner's current local week, as an aware datetime (the leaderboard's window)."""
    local = now.astimezone(ZoneInfo(tz))
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=ZoneInfo(tz))


def local_hour(now: datetime, tz: str) -> int:
    return now.astimezone(ZoneInfo(tz)).hour


def next_local_time(now: datetime, tz: str, hhmm: str) -> datetime:
    """The next moment (after now) the clock reads hh:mm in that zone, in UTC-aware form."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    hour, minute = (int(x) for x in hhmm.split(":"))
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour, minute=minute)
    return candidate.astimezone(now.tzinfo)
