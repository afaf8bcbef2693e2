"""Times as a teacher reads them: the organisation's time zone and language (babel), and org-local form inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_time, format_timedelta, get_timezone_location, get_timezone_name

EMPTY = "—"

# A teacher's browser sends a datetime-local field as "2026-03-02T19:30" (seconds are optional).
LOCAL_INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def org_locale(language: str, timezone: str) -> Locale:
    """The org's language in the org's country when CLDR knows that pair ("en" + Africa/Nairobi → en_KE: "7 Dec
    2026, 09:30", 24-hour clock), else the bare language, else English."""
    territory = get_global("zone_territories").get(timezone, "")
    language = (language or "en").replace("-", "_")
    candidates = [f"{language}_{territory}"] if territory and "_" not in language else []
    for name in [*candidates, language, "en"]:
        try:
            return Locale.parse(name)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def _instant(value: datetime | str | None) -> datetime | None:
    """A stored time (ISO-8601 text, UTC unless it says otherwise) or a datetime → aware datetime, None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Times:
    """Formats times for one organisation. Every admin page shows times through this (its Jinja filters `when`,
    `when_date`, `when_time`, `ago`, `learner_time`), so a school in Nairobi reads Nairobi time in its language."""

    zone: ZoneInfo
    locale: Locale
    now: Callable[[], datetime]

    @classmethod
    def for_org(cls, timezone: str, language: str, now: Callable[[], datetime]) -> Times:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")  # config checks refuse a bad [org] default_timezone at start; this is a fallback
        return cls(zone=zone, locale=org_locale(language, timezone), now=now)

    @property
    def zone_name(self) -> str:
        """ "Africa/Nairobi"."""
        return self.zone.key

    @property
    def zone_label(self) -> str:
        """The zone as people say it: "Nairobi time" (CLDR's names, in the org's language: "Saa za Kenya")."""
        try:
            if self.locale.language == "en":
                return f"{get_timezone_location(self.zone, locale=self.locale, return_city=True)} time"
            return get_timezone_name(self.zone, width="long", locale=self.locale, zone_variant="generic")
        except (LookupError, ValueError):
            return self.zone.key

    def local(self, value: datetime | str | None) -> datetime | None:
        instant = _instant(value)
        return instant.astimezone(self.zone) if instant else None

    def _join(self, time_text: str, date_text: str) -> str:
        pattern = self.locale.datetime_formats.get("medium", "{1}, {0}")
        return str(pattern).replace("{1}", date_text).replace("{0}", time_text)

    def when(self, value: datetime | str | None) -> str:
        """ "7 Dec 2026, 09:30" in the org's zone; non-times are shown as they are, empty as "—"."""
        local = self.local(value)
        if local is None:
            return str(value) if value else EMPTY
        return self._join(format_time(local, "short", locale=self.locale), format_date(local, "medium", self.locale))

    def when_date(self, value: datetime | date | str | None) -> str:
        """ "7 Dec 2026" (a date alone, e.g. a day of a chart or "2026-03-02", is shown as that day)."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return format_date(value, "medium", self.locale)
        if isinstance(value, str) and len(value) == 10:
            try:
                return format_date(date.fromisoformat(value), "medium", self.locale)
            except ValueError:
                return value
        local = self.local(value)
        if local is None:
            return str(value) if value else EMPTY
        return format_date(local, "medium", self.locale)

    def when_time(self, value: datetime | str | None) -> str:
        """ "09:30" in the org's zone."""
        local = self.local(value)
        if local is None:
            return str(value) if value else EMPTY
        return format_time(local, "short", locale=self.locale)

    def ago(self, value: datetime | str | None) -> str:
        """ "3 hours ago" / "in 2 days", from the app's clock."""
        instant = _instant(value)
        if instant is None:
            return str(value) if value else EMPTY
        delta = instant - self.now()
        if abs(delta) < timedelta(minutes=1):
            return "just now" if self.locale.language == "en" else format_timedelta(delta, locale=self.locale)
        return format_timedelta(delta, add_direction=True, threshold=1.0, locale=self.locale)

    def learner_time(self, value: datetime | str | None, timezone: str | None) -> str:
        """The time in a learner's own zone ("07:00"), with the day when it is not the org's day of the same
        instant ("Tue 07:00"); the template says whose time it is ("07:00 for Amina")."""
        instant = _instant(value)
        if instant is None:
            return EMPTY
        try:
            zone = ZoneInfo(timezone) if timezone else self.zone
        except (ZoneInfoNotFoundError, ValueError):
            zone = self.zone
        theirs = instant.astimezone(zone)
        text = format_time(theirs, "short", locale=self.locale)
        if theirs.date() != instant.astimezone(self.zone).date():
            text = f"{format_date(theirs, 'EEE', self.locale)} {text}"
        return text

    def parse_local(self, text: str) -> datetime | None:
        """A datetime-local form value typed in the org's zone → aware UTC datetime; None when it is not one."""
        text = (text or "").strip()
        for pattern in LOCAL_INPUT_FORMATS:
            try:
                naive = datetime.strptime(text, pattern)
            except ValueError:
                continue
            return naive.replace(tzinfo=self.zone).astimezone(UTC)
        return None

    def input_value(self, value: datetime | str | None) -> str:
        """A stored time → the value of a datetime-local field in the org's zone ("2026-03-02T19:30")."""
        local = self.local(value)
        return local.strftime("%Y-%m-%dT%H:%M") if local else ""
