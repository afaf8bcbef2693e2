"""Back-off for a silent learner: at most one proactive template a local day, then fewer, then none (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# A proactive template costs money and, unanswered, lowers the number's WhatsApp quality rating: a learner who does
# not write back gets one a day at most (the lesson nudge, or else the reminder), fewer and fewer of them, and none
# after MAX_UNANSWERED in a row (issue #19: whatever reminder_daily_days and reminder_backoff_days allow).
MAX_UNANSWERED = 3


@dataclass(frozen=True)
class Prompts:
    """The proactive nudges (lesson nudges, reminders) a learner got since the local date of their last message:
    on how many local days, and the latest of those days (ISO). The store counts them; a message resets them."""

    days: int = 0
    last: str | None = None

    def after(self, today: str) -> Prompts:
        """These prompts with one more today (the turn that sends it keeps its snapshot in step)."""
        return self if self.last == today else Prompts(self.days + 1, today)


def may_prompt(today: date | str, prompts: Prompts, *, daily_days: int, gaps: tuple[int, ...]) -> bool:
    """Whether a silent learner may get a proactive nudge today.

    One a local day; the first `daily_days` on consecutive days; after that each waits the next gap (2, then 4,
    then 7 days after the previous one); when the gaps are used up, or after MAX_UNANSWERED unanswered ones,
    silence wins until the learner writes again.
    """
    day = today if isinstance(today, date) else date.fromisoformat(today)
    if prompts.last == day.isoformat():
        return False
    n = prompts.days
    if n >= MAX_UNANSWERED:
        return False
    if n < daily_days:
        return True
    if n - daily_days >= len(gaps):
        return False
    return prompts.last is None or (day - date.fromisoformat(prompts.last)).days >= gaps[n - daily_days]


def paused(prompts: Prompts, *, daily_days: int, gaps: tuple[int, ...]) -> int | None:
    """How many unanswered nudges and reminders stopped them (None while more may come): what the admin's learner
    page says ("reminders paused: 3 unanswered") until the learner writes again."""
    n = prompts.days
    if n >= MAX_UNANSWERED or (n > 0 and n - daily_days >= len(gaps)):
        return n
    return None


def parse_gaps(text: str) -> tuple[int, ...]:
    """[schedule] reminder_backoff_days ("2,4,7") as whole days."""
    return tuple(int(g) for g in text.split(",") if g.strip())
