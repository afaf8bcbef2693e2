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


EVERY_DAY: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # weekdays, Monday 0 ([schedule] lesson_days)


def next_lesson_at(
    now: datetime,
    lesson_time: str,
    tz: str,
    quiet: QuietHours,
    *,
    after: date | None = None,
    grace: timedelta = timedelta(0),
    days: tuple[int, ...] = EVERY_DAY,
) -> datetime:
    """The next lesson instant worth keeping: the first local date (after `after`, if given) that is a lesson day
    (`days`: weekdays, Monday 0; [schedule] lesson_days) and whose lesson is not already older than the grace
    window. Today's counts while it is still within grace."""
    day = local_day(now, tz)
    if after is not None and after >= day:
        day = after + timedelta(days=1)
    for _ in range(11):  # a week of lesson days is found within 7 days, +3 for the grace window
        due = lesson_time_on(day, lesson_time, tz, quiet)
        if due >= now - grace and (not days or day.weekday() in days):
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


WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window after the learner's last message
KEEP_OPEN = timedelta(hours=2)  # the daily turn sends the lesson on time only if the window stays open this long
LEAN_KEEP_OPEN = timedelta(minutes=30)  # on lean days: the fan-out's drain (~21 minutes for 100,000 learners)
EARLY_MARGIN = timedelta(minutes=15)  # an early lesson is sent at least this long before the window closes


def keep_open(*, lean: bool) -> timedelta:
    """How long after the lesson time the window must stay open for the daily lesson to go as a plain message:
    2 hours with the follow-up quiz 30 minutes later, 30 minutes on lean days (the quiz starts in the lesson)."""
    return LEAN_KEEP_OPEN if lean else KEEP_OPEN


def early_lesson_at(
    due: datetime,
    last_inbound: datetime | None,
    tz: str,
    quiet: QuietHours,
    *,
    early: timedelta,
    keep_open: timedelta = KEEP_OPEN,
    margin: timedelta = EARLY_MARGIN,
) -> datetime:
    """When to send the daily lesson due at `due` (UTC) to keep the learner's 24-hour window open.

    `due` itself when the window stays open long enough then (or there is no window, or `early` is 0). When it
    would close before that (they wrote at 06:50, lesson at 07:00), the latest instant at least `margin` before
    it closes and before `due`, if that is at most `early` before `due`, on the same local date and outside quiet
    hours: the lesson then goes as a service message inside the window instead of a paid nudge template after
    it closed. Otherwise `due` (and the nudge). All arithmetic is on UTC instants: the window is 24 real hours,
    so across a DST change it closes at another wall-clock time than the learner wrote at."""
    if early <= timedelta(0) or last_inbound is None:
        return due
    closes = last_inbound + WINDOW
    if closes > due + keep_open or closes <= due - early:
        return due  # open long enough anyway, or closed too early for `early` to help
    at = min(closes, due) - margin
    if at < due - early or local_day(at, tz) != local_day(due, tz) or quiet.is_quiet(at, tz):
        return due
    return at


def send_early(
    now: datetime,
    due: datetime,
    last_inbound: datetime | None,
    tz: str,
    quiet: QuietHours,
    *,
    early: timedelta,
    keep_open: timedelta = KEEP_OPEN,
) -> bool:
    """The scan's test for a learner whose lesson is not yet due: is it time to send it early (early_lesson_at)?
    Never in quiet hours, never on another local date than the lesson's."""
    if now >= due:
        return False
    at = early_lesson_at(due, last_inbound, tz, quiet, early=early, keep_open=keep_open)
    return at < due and at <= now and not quiet.is_quiet(now, tz) and local_day(now, tz) == local_day(due, tz)
