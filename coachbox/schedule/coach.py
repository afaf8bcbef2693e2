"""What every scheduled job needs: settings-derived rules, the cache, and the conversation's proactive turn."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.learning.backoff import parse_gaps
from coachbox.learning.lessondays import parse_lesson_days
from coachbox.learning.timing import QuietHours
from coachbox.turns.batch import decide_batch, run_events_batch, write_batch
from coachbox.turns.runner import Resources, run_event


@dataclass
class Coach:
    """Built once per worker process from its Services (or directly in tests, benches and crash scripts)."""

    settings: Settings
    cache: Any
    _resources: Any = None

    @classmethod
    def of(cls, services: Services) -> Coach:
        found = services.coach
        if found is None:
            found = services.coach = cls(services.settings, services.cache)
        return found

    @property
    def quiet(self) -> QuietHours:
        s = self.settings.schedule
        return QuietHours.of(s.quiet_hours_start, s.quiet_hours_end)

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.settings.schedule.grace_hours)

    @property
    def lesson_days(self) -> tuple[int, ...]:
        """[schedule] lesson_days as weekdays (Monday 0): the fan-out, reminders and streaks follow them."""
        return parse_lesson_days(self.settings.schedule.lesson_days)

    @property
    def backoff(self) -> tuple[int, ...]:
        return parse_gaps(self.settings.schedule.reminder_backoff_days)

    @property
    def resources(self):
        if self._resources is None:
            self._resources = Resources.build(self.settings)
        return self._resources

    @property
    def texts(self):
        return self.resources.texts

    def run_event(self, conn: sqlite3.Connection, learner_id: int, event: Any, now: datetime):
        """The conversation's own proactive turn, inside the caller's transaction: the daily lesson is the very
        lesson (text, state, progress) the chat flow would give."""

        res = self.resources
        return run_event(
            conn,
            self.cache,
            self.settings,
            res.catalogue(conn),
            res.texts,
            learner_id,
            event,
            now,
            rules=res.rules,
            own_transaction=False,
        )

    def run_events(self, conn: sqlite3.Connection, learner_ids: list[int], event: Any, now: datetime) -> dict:
        """run_event() for a whole batch of learners (conversation.batch): same results, set-based reads and
        writes; {learner id: TurnOutcome}."""

        return run_events_batch(conn, self.cache, self.resources, learner_ids, event, now)

    def decide_events(self, conn: sqlite3.Connection, learner_ids: list[int], event: Any, now: datetime):
        """The read half of run_events(): snapshots and the engine's decisions, no write (a read transaction
        is enough, so the write lock stays free meanwhile)."""

        return decide_batch(conn, self.resources, learner_ids, event, now)

    def write_events(
        self,
        conn: sqlite3.Connection,
        decided: Any,
        learner_ids: list[int],
        current: dict[int, tuple] | None = None,
        claims=(),
    ) -> dict:
        """The write half, inside the write transaction: learners whose row changed since they were decided are
        decided again first (current: their store.proactive.versions(), if read already in this transaction);
        {learner id: TurnOutcome} for learner_ids. claims: the (learner, local date) daily-lesson rows the caller
        writes itself (conversation.batch.write_batch)."""

        return write_batch(conn, self.cache, self.resources, decided, learner_ids, current=current, claims=claims)
