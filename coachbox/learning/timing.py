"""Pure time rules of the coach's clock: local lesson instants (DST-correct), quiet hours and the grace window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The learner's zone; a bad name (hand-edited row) falls back to UTC rather than stopping the fan-out."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=4096)
def hhmm(text: str) -> time:
    """'07:30' → 07:30. A hand-edited bad value means 07:00: one broken row must not stop everyone's lessons."""
    hour, _, minute = (text or "07:00").partition(":")
    try:
        return time(int(hour), int(minute or 0))
    except ValueError:
        return time(7, 0)


@dataclass(frozen=True)
class QuietHours:
    """A daily local-time span with no proactive messages; it may wrap midnight (21:00–07:00)."""

    start: time
    end: time

    @classmethod
    def of(cls, start: str, end: str) -> QuietHours:
        return cls(hhmm(start), hhmm(end))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False  # switched off
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def is_quiet(self, when: datetime, tz: str) -> bool:
        return self.contains(when.astimezone(zone(tz)).time())

    def next_allowed(self, when: datetime, tz: str) -> datetime:
        """`when` itself if it is outside quiet hours, else the instant they end (in UTC)."""
        local = when.astimezone(zone(tz))
        if not self.contains(local.time()):
            return when
        end_day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return local_instant(end_day, self.end, tz)


def local_instant(day: date, at: time, tz: str) -> datetime:
    """The UTC instant the learner's wall clock reads `at` on `day`.

    DST: a time skipped by spring-forward (02:30 on 2026-03-08 in New York) does not exist; zoneinfo's fold=0
    maps it with the pre-transition offset, i.e. an hour later on the wall clock (03:30), still that day. A time
    repeated by fall-back (01:30 on 2026-11-01) happens twice; fold=0 takes the first. One instant per local
    date either way, which is what "exactly once per local date" needs.
    """
    return datetime.combine(day, at, tzinfo=zone(tz)).astimezone(UTC)


def lesson_time_on(day: date, lesson_time: str, tz: str, quiet: QuietHours) -> datetime:
    """When the daily lesson for local date `day` is due: the learner's time, held to the end of quiet hours."""
    at = hhmm(lesson_time)
    if quiet.contains(at):
        at = quiet.end  # "send at 22:00" with quiet hours from 21:00: it comes at 07:00 instead, same local date
    return local_instant(day, at, tz)


def local_day(when: datetime, tz: str) -> date:
    return when.astimezone(zone(tz)).date()


def next_lesson_at(
    now: datetime,
    lesson_time: str,
    tz: str,
    quiet: QuietHours,
    *,
    after: date | None = None,
    grace: timedelta = timedelta(0),
) -> datetime:
    """The next lesson instant worth keeping: the first local date (after `after`, if given) whose lesson is not
    already older than the grace window. Today's counts while it is still within grace."""
    day = local_day(now, tz)
    if after is not None and after >= day:
        day = after + timedelta(days=1)
    for _ in range(4):
        due = lesson_time_on(day, lesson_time, tz, quiet)
        if due >= now - grace:
            return due
        day += timedelta(days=1)
    return lesson_time_on(day, lesson_time, tz, quiet)  # pragma: no cover - 3 days always reach the future


@dataclass(frozen=True)
class Verdict:
    action: str  # send | late | quiet | day_over
    local_date: str


def judge(due: datetime, now: datetime, tz: str, quiet: QuietHours, grace: timedelta) -> Verdict:
    """What to do with a lesson due at `due` when the scan sees it at `now`."""
    day = local_day(due, tz)
    if now - due > grace:
        return Verdict("late", day.isoformat())
    if local_day(now, tz) != day:
        return Verdict("day_over", day.isoformat())  # never carry a lesson over the learner's midnight
    if quiet.is_quiet(now, tz):
        return Verdict("quiet", day.isoformat())  # late into quiet hours: skip rather than wake them
    return Verdict("send", day.isoformat())
