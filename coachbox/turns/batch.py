"""Batched proactive turns: run_event() for a whole batch of learners, with set-based reads and writes.

The scheduler's daily fan-out runs one of these per batch (thousands of learners) in two steps: decide_batch reads
the snapshots in a few queries for the whole batch and runs the pure engine for each learner, in a read
transaction (no write lock: webhook turns go on meanwhile); write_batch then writes the effects and outbox rows
with executemany inside the write transaction, deciding again the few learners whose row changed in between.
What each learner sees, and what the database holds afterwards, is what run_event() gives
(tests/conversation/test_batch.py runs both on the same learners and compares).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coachbox.content.markup import split_body
from coachbox.conversation import effects as fx
from coachbox.conversation.engine import Decision, Reply, handle
from coachbox.conversation.events import DeliverDailyLesson, Event
from coachbox.conversation.state import State
from coachbox.core.costs import single_region
from coachbox.core.plans import plans_for
from coachbox.learning.access import Access, Entitlement
from coachbox.learning.timeparse import local_date
from coachbox.payments.subscriptions import _courses, payment_methods, phone_region
from coachbox.store import proactive as q
from coachbox.store.progress import held_lessons, prompts
from coachbox.store.reviews import due_reviews
from coachbox.turns.runner import (
    Followup,
    Resources,
    TurnOutcome,
    _apply,
    content_variables,
    run_event,
)

log = logging.getLogger("coachbox.conversation")


def _batchable(effects: tuple[fx.Effect, ...]) -> bool:
    """Whether a turn's effects are the ones a daily lesson usually has (its delivery, and its quiz started in the
    lesson on lean days or scheduled as a follow-up; or the lesson held for the learner's reply), which write_batch
    writes for the whole batch at once; anything else (a lesson without a quiz completes at once: streak, badges,
    certificate) goes through _apply, learner by learner. The batch writes every delivery with its quiz started,
    then every follow-up scheduled, then every lesson held: the same rows as _apply's order only when a quiz started
    is the lesson's delivered before it in the turn (its progress row is that delivery's), and no follow-up of that
    lesson was scheduled before it (starting the quiz would cancel it)."""
    delivered, scheduled = set(), set()
    for e in effects:
        if isinstance(e, fx.HoldLesson):  # outside the window: the lesson waits for a reply (its own rows)
            continue
        if isinstance(e, fx.RecordDelivery):
            delivered.add(e.lesson_id)
        elif isinstance(e, fx.ScheduleQuiz):
            scheduled.add(e.lesson_id)
        elif not isinstance(e, fx.StartQuiz) or e.lesson_id not in delivered or e.lesson_id in scheduled:
            return False
    return True


def run_events_batch(
    conn: sqlite3.Connection, cache: Any, resources: Resources, learner_ids: list[int], event: Event, now: datetime
) -> dict[int, TurnOutcome]:
    """run_event(conn, cache, …, learner_id, event, now, own_transaction=False) for each learner, inside the
    caller's transaction. Like run_event, a proactive turn counts the learner's turn and saves no session (the
    next turn rebuilds it from the database), so nothing is written to the cache."""
    return write_batch(conn, cache, resources, decide_batch(conn, resources, learner_ids, event, now), check=False)


@dataclass
class Batch:
    """Proactive turns decided from one read snapshot (decide_batch), to be written by write_batch."""

    event: Event
    now: datetime
    learner_ids: list[int]
    seen: dict[int, tuple | None] = field(default_factory=dict)  # q.versions() of each learner decided on
    outcomes: dict[int, TurnOutcome] = field(default_factory=dict)  # nothing to write: erased, already done
    keys: dict[int, str] = field(default_factory=dict)  # the turn's local date, for those to write
    rows: dict[int, sqlite3.Row] = field(default_factory=dict)
    decisions: dict[int, Decision] = field(default_factory=dict)
    languages: dict[int, str] = field(default_factory=dict)
    one_by_one: bool = False  # personalised lessons: run_event per learner when written

    def merged(self, redone: Batch) -> Batch:
        """This batch with some learners decided again (redone, in the write lock)."""
        merged = Batch(self.event, self.now, self.learner_ids, one_by_one=self.one_by_one)
        for name in ("seen", "outcomes", "keys", "rows", "decisions", "languages"):
            values = {k: v for k, v in getattr(self, name).items() if k not in redone.seen}
            values.update(getattr(redone, name))
            setattr(merged, name, values)
        return merged


def decide_batch(
    conn: sqlite3.Connection, resources: Resources, learner_ids: list[int], event: Event, now: datetime
) -> Batch:
    """Read a batch's snapshots and run the pure engine for each learner; writes nothing, so the scheduler runs it
    in a read transaction, outside the write lock (write_batch re-checks what it read)."""
    if not isinstance(event, DeliverDailyLesson):
        raise TypeError(f"not a batched proactive event: {event!r}")
    settings, texts, rules = resources.settings, resources.texts, resources.rules
    batch = Batch(event, now, list(learner_ids))
    if settings.ai.personalise_lessons:
        # Each learner's lesson text may come from the tutor's cache (and warm-up tasks follow): the one-learner
        # turn does that; with the feature on, the fan-out runs it learner by learner, in the write lock.
        batch.one_by_one = True
        return batch
    catalogue = resources.catalogue(conn)
    kind = "daily_lesson"
    rows = q.learner_rows(conn, learner_ids)
    seen = q.versions_of(rows)  # what write_batch compares with (q.versions() of the same snapshot)
    keys, zones = batch.keys, {}
    for learner_id in learner_ids:
        row = rows.get(learner_id)
        batch.seen[learner_id] = seen.get(learner_id)
        if row is None or row["status"] == "deleted":
            batch.outcomes[learner_id] = TurnOutcome(False, None, [])
            continue
        tz = row["timezone"]
        if tz not in zones:
            zones[tz] = local_date(now, tz)
        keys[learner_id] = zones[tz]
    done = q.deliveries(conn, kind, keys.items())
    for learner_id, key in list(keys.items()):
        if done.get((learner_id, key)) in ("done", "cancelled"):
            batch.outcomes[learner_id] = TurnOutcome(True, learner_id, [])
            del keys[learner_id]
    ids = list(keys)
    if not ids:
        return batch
    subscriptions = q.live_subscriptions(conn, ids, now)
    plans = plans_for(settings)
    plan_list = tuple(plans.values())
    methods: dict[str | None, tuple[str, ...]] = {}
    # Most learners have no live subscription: their Access (frozen) is the same for a region, made once a batch.
    unpaid: dict[str | None, Access] = {}

    def access(row: sqlite3.Row) -> Access:  # payments.subscriptions.load_access() from the batch's rows
        region = _region(row["phone"])
        if region not in methods:
            methods[region] = payment_methods(settings, region, plans)
            unpaid[region] = Access((), plan_list, region, methods[region])
        live = subscriptions.get(row["id"])
        if not live:
            return unpaid[region]
        entitlements = tuple(
            Entitlement(s["plan"], _courses(s["courses"]), s["access_until"], s["current_period_end"]) for s in live
        )
        return Access(entitlements, plan_list, region, methods[region])

    learners = q.snapshots(conn, (rows[i] for i in ids), access)
    # Due review questions, as data: the engine asks them before the lesson (few learners have any).
    for learner_id, review in due_reviews(
        conn, {i: rows[i]["timezone"] for i in ids}, now, settings.schedule.review_per_day
    ).items():
        learners[learner_id] = learners[learner_id].evolve(review=review)
    for learner_id, held in held_lessons(conn, ids).items():  # a lesson held for a reply to an older nudge
        learners[learner_id] = learners[learner_id].evolve(held=held)
    # Nudges and reminders since they last wrote (the silent learner's back-off), for those with any.
    for learner_id, got in prompts(conn, {i: (rows[i]["timezone"], rows[i]["last_inbound_at"]) for i in ids}).items():
        learners[learner_id] = learners[learner_id].evolve(prompts=got)
    # What is the same for every learner of the batch (a lesson's messages in a language, its quiz's first
    # question, the day in a zone) is made once: kept here for this batch's turns only (Turn.shared).
    shared: dict[Any, Any] = {}
    for learner_id in ids:
        learner = learners[learner_id]
        batch.rows[learner_id], batch.languages[learner_id] = rows[learner_id], learner.language
        try:
            # The state is not read by a daily lesson (and not saved): State() stands in for the session.
            batch.decisions[learner_id] = handle(event, State(), learner, catalogue, texts, now, rules, shared)
        except Exception:
            log.exception("engine failed", extra={"learner_id": learner_id, "flow": "batch"})
            batch.decisions[learner_id] = Decision(State(), (Reply(texts.t(learner.language, "error.sorry")),), ())
    return batch


def write_batch(
    conn: sqlite3.Connection,
    cache: Any,
    resources: Resources,
    batch: Batch,
    learner_ids: list[int] | None = None,
    *,
    check: bool = True,
    current: dict[int, tuple] | None = None,
    claims: Collection[tuple[int, str]] = (),
) -> dict[int, TurnOutcome]:
    """Write a decided batch (or those of its learners in learner_ids) inside the caller's write transaction.

    check: the batch was decided outside this transaction. A learner whose row changed since (a message from
    them counts a turn; a pause, a new lesson time, a streak update change the row too: store.proactive.WATCHED)
    is decided again here, under the lock, from what is now in the database (a lesson delivered meanwhile counted
    a turn too). What else may change in between without touching the learner row (a subscription paid 50 ms
    earlier) orders the turn before that change, as a fan-out started a moment sooner would have.
    current: store.proactive.versions() of these learners, already read in this transaction (the scheduler's).
    claims: (learner, local date) daily-lesson delivery rows the caller writes itself, once, with their outcome
    (the scheduler's claim: store.proactive.claim_settled); a lesson decided here does not insert them first."""
    wanted = batch.learner_ids if learner_ids is None else learner_ids
    now = batch.now
    if batch.one_by_one:
        settings, catalogue = resources.settings, resources.catalogue(conn)
        return {
            learner_id: run_event(
                conn,
                cache,
                settings,
                catalogue,
                resources.texts,
                learner_id,
                batch.event,
                now,
                rules=resources.rules,
                own_transaction=False,
            )
            for learner_id in wanted
        }
    if check and wanted:
        fresh = q.versions(conn, wanted) if current is None else current
        stale = [i for i in wanted if fresh.get(i) != batch.seen.get(i)]
        if stale:
            batch = batch.merged(decide_batch(conn, resources, stale, batch.event, now))
    kind = "daily_lesson"
    ids = [i for i in wanted if i in batch.keys]
    if ids:
        q.count_turns(conn, ids)
    deliveries: list[tuple[int, int, int, int, str | None, str]] = []
    quizzes: list[tuple[int, str, str, int | None, str]] = []
    held: list[tuple[int, str, int, bool]] = []
    started: set[tuple[int, int]] = set()  # quizzes started in the lesson, on lean days: (learner, lesson)
    drafts = []
    followups: dict[int, list[Followup]] = {}
    for learner_id in ids:
        decision, row = batch.decisions[learner_id], batch.rows[learner_id]
        turn_key = f"{kind}:{learner_id}:{batch.keys[learner_id]}"
        if _batchable(decision.effects):
            for e in decision.effects:
                if isinstance(e, fx.RecordDelivery):
                    # A claimed row is written by the caller with this lesson's id (one write, not insert + settle).
                    claimed = e.kind == kind and (learner_id, e.key) in claims
                    deliveries.append(
                        (learner_id, e.lesson_id, e.course_id, e.next_position, None if claimed else e.kind, e.key)
                    )
                elif isinstance(e, fx.StartQuiz):
                    started.add((learner_id, e.lesson_id))
                elif isinstance(e, fx.HoldLesson):
                    held.append((learner_id, e.key, e.lesson_id, e.nudge))
                elif isinstance(e, fx.ScheduleQuiz):
                    quizzes.append((learner_id, "quiz_followup", str(e.lesson_id), e.lesson_id, e.due_at.isoformat()))
        else:
            followups[learner_id] = _apply(
                conn,
                cache,
                learner_id,
                decision,
                now,
                question_key=turn_key,
                language=batch.languages[learner_id],
                erased_files=[],
            )
        for index, reply in enumerate(decision.replies):
            drafts.append(
                (
                    learner_id,
                    row["channel"],
                    row["channel_key"],
                    reply,
                    f"{turn_key}:out:{index}",
                    index,
                    reply.template,
                )
            )
    q.record_deliveries(conn, deliveries, now, started)
    q.schedule_many(conn, quizzes, now)
    q.hold_lessons(conn, held, now)

    # The outbox, as enqueue_outbound() writes it: a body over 1,600 characters becomes '<kind>.continued' parts;
    # a message whose key exists already is not written again (nor its parts).
    existing = q.existing_keys(conn, [d[4] for d in drafts])
    rows_out, firsts = [], []
    for learner_id, channel, address, reply, key, index, template_key in drafts:
        if key in existing:
            continue
        firsts.append((learner_id, key))
        media = json.dumps([reply.media]) if reply.media else "[]"  # json.dumps([]), without the call per learner
        reply_variables = content_variables(reply)
        variables = None if reply_variables is None else json.dumps(reply_variables)
        for part_no, body in enumerate(split_body(reply.text, resources.rules.message_limit)):
            first = part_no == 0
            rows_out.append(
                (
                    learner_id,
                    channel,
                    address,
                    body,
                    media if first else "[]",
                    reply.kind,
                    template_key if first else f"{reply.kind}.continued",
                    variables if first else None,
                    key if first else f"{key}#{part_no}",
                    index,
                )
            )
    new_ids = q.enqueue_many(conn, rows_out, now) if rows_out else {}
    sent: dict[int, list[int]] = {}
    for learner_id, key in firsts:
        sent.setdefault(learner_id, []).append(new_ids[key])
    outcomes = dict(batch.outcomes)
    for learner_id in ids:
        outcomes[learner_id] = TurnOutcome(
            False, learner_id, sent.get(learner_id, []), tuple(followups.get(learner_id, ()))
        )
    return {learner_id: outcomes[learner_id] for learner_id in wanted}


_E164 = re.compile(r"\+(\d{6,15})")


def _region(phone: str | None) -> str | None:
    """payments.subscriptions.phone_region() without parsing the number when its country code belongs to one
    region only (+254 is always KE): parsing is most of a proactive turn's access check. Numbers in shared codes
    (+1, +7, +44…) and anything not plainly E.164 are parsed as before."""
    match = _E164.fullmatch(phone or "")
    if match and (region := single_region(match.group(1))):
        return region
    return phone_region(phone)
