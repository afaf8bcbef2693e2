"""The thin shell around the engine: load state, decide, apply effects and write the outbox in ONE transaction."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from coachbox.channels.base import Inbound
from coachbox.channels.buttons import with_buttons
from coachbox.channels.costs import inbound_cost
from coachbox.channels.outbox import WINDOW
from coachbox.content.catalogue import catalogue_version, load_catalogue
from coachbox.content.markup import MESSAGE_LIMIT, message_limit
from coachbox.conversation import commands
from coachbox.conversation import effects as fx
from coachbox.conversation import premium as payment_chat
from coachbox.conversation.engine import Decision, Reply, Rules, handle
from coachbox.conversation.events import (
    DeliverDailyLesson,
    Event,
    Message,
    QuizFollowUp,
)
from coachbox.conversation.state import rebuild
from coachbox.conversation.texts import Texts
from coachbox.core import events
from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.learning.backoff import parse_gaps
from coachbox.learning.course import Catalogue
from coachbox.learning.grading import normalise
from coachbox.learning.lessondays import parse_lesson_days
from coachbox.learning.timeparse import local_date, timezone_for_phone
from coachbox.payments import effects as payment_effects
from coachbox.payments import handover as payment_handover
from coachbox.payments.subscriptions import with_access
from coachbox.store import checkins, intake, learners, progress, reviews, transaction, tutor
from coachbox.store import handover as handovers
from coachbox.store.messages import (
    OutboxDraft,
    enqueue_outbound,
    inbound_key,
    is_duplicate_inbound,
    record_inbound,
    requeue_waiting_outbound,
)
from coachbox.turns import exports, ratelimit, sessions
from coachbox.tutor import voice
from coachbox.tutor.personalise import for_turn, warm_ups

log = logging.getLogger("coachbox.conversation")

# Proactive messages may fall outside WhatsApp's 24-hour window: the sender then uses these templates. (The daily
# lesson is never sent outside it: the engine holds it and its nudge reply carries the lesson_nudge template.)
TEMPLATE_FOR: dict[type, str] = {QuizFollowUp: "reminder"}


@dataclass(frozen=True)
class Followup:
    """Work for another feature's worker task, enqueued only after the turn committed."""

    task: str
    args: tuple


@dataclass(frozen=True)
class TurnOutcome:
    duplicate: bool
    learner_id: int | None
    outbox_ids: list[int]
    followups: tuple[Followup, ...] = ()
    rate_limited: bool = False
    erased_files: tuple[str, ...] = ()  # under data/: removed once the erasing turn has committed
    queued: bool = False  # kept in inbound_queue behind this learner's earlier kept messages (turns/intake.py)
    handover: bool = False  # the turn opened or closed a handover: the admin menu's Inbox count moved


def rules_from(settings: Settings) -> Rules:
    learning = settings.learning
    return Rules(
        org_name=settings.org.name,
        default_timezone=settings.org.default_timezone,
        default_lesson_time=settings.org.lesson_time,
        quiz_followup_minutes=learning.quiz_followup_minutes,
        daily_next_cap=learning.daily_next_cap,
        freeze_every_days=learning.streak_freeze_every_days,
        leaderboard=learning.leaderboard,
        prompt_daily_days=settings.schedule.reminder_daily_days,
        prompt_gaps=parse_gaps(settings.schedule.reminder_backoff_days),
        message_retention_days=settings.schedule.message_retention_days,
        desired_retention=learning.desired_retention,
        lean_days=learning.lean_days,
        quiz_style=learning.quiz_style,
        message_limit=message_limit(settings.channel_kind),
        lesson_days=parse_lesson_days(settings.schedule.lesson_days),
        buttons=settings.channel_kind == "meta"
        or any(settings.twilio.templates.get(f"quick_reply_{n}") for n in (2, 3)),
        office_hours=settings.handover.office_hours,
        safeguarding_words=tuple(w.strip() for w in settings.handover.safeguarding_words.split(",") if w.strip()),
    )


@dataclass
class Resources:
    """Per-process conversation resources: texts, rules, and the catalogue cached by its content version."""

    settings: Settings
    texts: Texts
    rules: Rules
    _catalogue: Catalogue | None = None
    _version: str | None = None

    @classmethod
    def build(cls, settings: Settings) -> Resources:
        return cls(settings, Texts.load(settings.content_dir / "locales"), rules_from(settings))

    def catalogue(self, conn: sqlite3.Connection) -> Catalogue:
        version = catalogue_version(conn)
        if self._catalogue is None or version != self._version:
            self._catalogue, self._version = load_catalogue(conn), version
        return self._catalogue


def resources(services: Services) -> Resources:
    found = services.conversation
    if found is None:
        found = services.conversation = Resources.build(services.settings)
    return found


async def handle_inbound(services: Services, inbound: Inbound) -> TurnOutcome:
    """One learner message, start to finish, on the single writer thread; follow-up tasks after the commit.

    Turns that arrive while others run are group-committed (Database.group): one transaction, a SAVEPOINT
    each, and this returns only once that transaction has committed."""
    res = resources(services)
    turns = services.inbound_turns
    if turns is None:

        def turn(conn: sqlite3.Connection, item: tuple[Inbound, datetime]) -> TurnOutcome:
            return _inbound_turn(
                conn,
                services.cache,
                res.settings,
                res.catalogue(conn),
                res.texts,
                item[0],
                item[1],
                res.rules,
                own_transaction=False,
            )

        def erased(outcome: TurnOutcome) -> None:  # after the commit: a rolled-back DELETE keeps the files
            if outcome.erased_files:
                remove_files(res.settings, outcome.erased_files)

        turns = services.inbound_turns = services.db.group(turn, after_commit=erased)
    outcome = await turns((inbound, services.clock.now()))
    dispatch(services, outcome)
    if not outcome.duplicate and outcome.learner_id is not None:  # committed: wake open admin pages
        inbox = ("inbox",) if outcome.handover else ()  # the menu's count on every admin page (admin.menu_count)
        events.publish(services, f"learner:{outcome.learner_id}", "dashboard", *inbox)
    return outcome


def handle_inbound_sync(
    conn: sqlite3.Connection,
    cache: Any,
    settings: Settings,
    catalogue: Catalogue,
    texts: Texts,
    inbound: Inbound,
    now: datetime,
    *,
    rules: Rules | None = None,
    transcript_of: int | None = None,
) -> TurnOutcome:
    """The whole turn in one BEGIN IMMEDIATE transaction: it also serialises turns across processes, and the
    session is read and written while the lock is held, so two messages from one learner never interleave.
    transcript_of: the voice note (message id) this inbound transcribes; its pending row is settled in this turn."""
    rules = rules or rules_from(settings)
    outcome = _inbound_turn(conn, cache, settings, catalogue, texts, inbound, now, rules, transcript_of)
    if outcome.erased_files:  # after the commit: a rolled-back DELETE must not have lost the learner's files
        remove_files(settings, outcome.erased_files)
    return outcome


def _inbound_turn(
    conn: sqlite3.Connection,
    cache: Any,
    settings: Settings,
    catalogue: Catalogue,
    texts: Texts,
    inbound: Inbound,
    now: datetime,
    rules: Rules,
    transcript_of: int | None = None,
    *,
    own_transaction: bool = True,
) -> TurnOutcome:
    # The session and the rate-limit counters are rows of this database (migration 0030), written in the turn's own
    # transaction: one commit a turn. own_transaction=False: a group commit holds the transaction (and this turn's
    # SAVEPOINT) already.
    with transaction(conn) if own_transaction else contextlib.nullcontext():
        outcome = _message_turn(conn, cache, settings, catalogue, texts, inbound, now, rules, transcript_of)
        if not outcome.duplicate and not outcome.queued and outcome.learner_id is not None and transcript_of is None:
            after_message(conn, outcome.learner_id, inbound, now)
        return outcome


def after_message(conn: sqlite3.Connection, learner_id: int, inbound: Inbound, now: datetime) -> None:
    """What every message the learner sent does besides its turn, in the turn's own transaction (it used to be a
    second trip to the writer and a second commit per message: issue #15)."""
    if inbound.opt_out is not None:
        # Twilio's Advanced Opt-Out matched a keyword (the turn took it as STOP or START too) and now blocks, or
        # allows again, every message to this number: the learner's record says the same, whatever the turn did.
        learners.set_opted_out(conn, learner_id, inbound.opt_out == "stop", now)
    if inbound.wa_user_id:
        learners.remember_wa_user_id(conn, learner_id, inbound.wa_user_id)
    # The window is open again: messages that waited for it (no template configured) may go now (not a nudge).
    requeue_waiting_outbound(conn, learner_id, (now - WINDOW).isoformat(), now.isoformat())


def _message_turn(
    conn: sqlite3.Connection,
    cache: Any,
    settings: Settings,
    catalogue: Catalogue,
    texts: Texts,
    inbound: Inbound,
    now: datetime,
    rules: Rules,
    transcript_of: int | None,
) -> TurnOutcome:
    if is_duplicate_inbound(conn, inbound):
        intake.done_key(conn, inbound_key(inbound))
        return TurnOutcome(duplicate=True, learner_id=None, outbox_ids=[])
    if transcript_of is None and not intake.done_key(conn, inbound_key(inbound)):
        # Not a kept message's turn: if this learner has messages kept (turns/intake.py), it waits behind them.
        if intake.waiting_for(conn, inbound.address):
            queued = intake.enqueue(conn, [intake.arrival(inbound)])[0] == "queued"
            return TurnOutcome(duplicate=not queued, learner_id=None, outbox_ids=[], queued=queued)
    if transcript_of is not None and not _settle_voice_note(conn, transcript_of):
        # Handled already, or the learner erased their data since: never re-create them from a transcript.
        return TurnOutcome(duplicate=True, learner_id=None, outbox_ids=[])
    learner_id, _ = learners.upsert(
        conn,
        channel_key=inbound.address,
        channel=inbound.channel,
        phone=inbound.phone,
        wa_id=inbound.wa_id,
        profile_name=inbound.profile_name,
        language=settings.org.default_language,
        timezone=lambda: timezone_for_phone(inbound.phone, settings.org.default_timezone),  # new learners only
        lesson_time=settings.org.lesson_time,
        now=inbound.received_at,
    )
    # A voice note's transcript is a second row for one provider message: its cost is on the voice note's row.
    cost = inbound_cost(settings, inbound) if transcript_of is None else None
    message_id = record_inbound(conn, inbound, learner_id, cost)
    if message_id is None:
        return TurnOutcome(duplicate=True, learner_id=learner_id, outbox_ids=[])
    limits = ratelimit.Limits(settings.learning.rate_limit_per_hour, settings.learning.burst_per_minute)
    # A transcript was counted as its voice note already.
    # An opt-out or opt-in always gets through: a throttled STOP must still stop us.
    exempt = transcript_of is not None or _opts_out_or_in(texts, inbound)
    verdict = "allow" if exempt else ratelimit.check(conn, learner_id, now, limits)
    if verdict != "allow":
        # "notice" once, then "drop" silently to the learner: the operator still sees every throttled message.
        log.info("learner throttled", extra={"learner_id": learner_id, "verdict": verdict})
        ids = []
        if verdict == "notice":
            language = conn.execute("SELECT language FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
            draft = OutboxDraft(texts.t(language, "ratelimit.notice"), idempotency_key=f"{inbound_key(inbound)}:out:0")
            ids = [
                i
                for i in [
                    enqueue_outbound(
                        conn,
                        learner_id=learner_id,
                        channel=inbound.channel,
                        address=inbound.address,
                        draft=draft,
                        now=now,
                    )
                ]
                if i
            ]
        return TurnOutcome(False, learner_id, ids, rate_limited=True)
    if settings.ai.transcribe_voice_notes and _voice_note(settings, inbound):
        return _listening(conn, texts, learner_id, message_id, inbound, now)
    event = Message(inbound.body or "", inbound.button_payload, inbound.attachments, command=inbound.opt_out)
    return _turn(
        conn,
        cache,
        settings,
        catalogue,
        texts,
        rules,
        learner_id,
        event,
        now,
        channel=inbound.channel,
        address=inbound.address,
        key=inbound_key(inbound),
    )


def _opts_out_or_in(texts: Texts, inbound: Inbound) -> bool:
    """STOP or START in any language, or an opt-out/opt-in the channel recognised (as the engine will see it)."""
    said = normalise(inbound.button_payload or inbound.body or "")
    return inbound.opt_out is not None or any(texts.is_any_word(name, said) for name in commands.EVERY_LANGUAGE)


def _voice_note(settings: Settings, inbound: Inbound) -> bool:
    return voice.is_voice_note(settings, inbound)


def _listening(
    conn: sqlite3.Connection, texts: Texts, learner_id: int, message_id: int, inbound: Inbound, now: datetime
) -> TurnOutcome:
    """A voice note: 'listening…' at once; transcribing takes seconds, so the worker does it (tutor.voice) and
    runs the transcript as the learner's message. The pending row is the truth a lost task is swept up from."""
    language = conn.execute("SELECT language FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
    draft = OutboxDraft(texts.t(language, "tutor.listening"), idempotency_key=f"{inbound_key(inbound)}:out:0")
    ids = [
        i
        for i in [
            enqueue_outbound(
                conn, learner_id=learner_id, channel=inbound.channel, address=inbound.address, draft=draft, now=now
            )
        ]
        if i
    ]
    progress.request(conn, learner_id, kind="voice_note", key=str(message_id), now=now)
    return TurnOutcome(False, learner_id, ids, (Followup("tutor.voice", (message_id,)),))


def _settle_voice_note(conn: sqlite3.Connection, message_id: int) -> bool:
    return voice.settle(conn, message_id)


def run_event(
    conn: sqlite3.Connection,
    cache: Any,
    settings: Settings,
    catalogue: Catalogue,
    texts: Texts,
    learner_id: int,
    event: Event,
    now: datetime,
    *,
    rules: Rules | None = None,
    own_transaction: bool = True,
) -> TurnOutcome:
    """A proactive turn (daily lesson, quiz follow-up) for the scheduler; safe to call twice for one event.
    own_transaction=False: the caller holds the transaction (the scheduler batches ~500 learners per commit)."""
    rules = rules or rules_from(settings)
    with transaction(conn) if own_transaction else contextlib.nullcontext():
        row = conn.execute(
            "SELECT channel, channel_key, timezone, status FROM learners WHERE id = ?", (learner_id,)
        ).fetchone()
        if row is None or row["status"] == "deleted":
            return TurnOutcome(False, None, [])
        if isinstance(event, DeliverDailyLesson):
            kind, key = "daily_lesson", local_date(now, row["timezone"])
        elif isinstance(event, QuizFollowUp):
            kind, key = "quiz_followup", str(event.lesson_id)
        else:
            raise TypeError(f"not a proactive event: {event!r}")
        done = conn.execute(
            "SELECT status FROM deliveries WHERE learner_id = ? AND kind = ? AND key = ?", (learner_id, kind, key)
        ).fetchone()
        if done is not None and done["status"] in ("done", "cancelled"):
            return TurnOutcome(True, learner_id, [])
        outcome = _turn(
            conn,
            cache,
            settings,
            catalogue,
            texts,
            rules,
            learner_id,
            event,
            now,
            channel=row["channel"],
            address=row["channel_key"],
            key=f"{kind}:{learner_id}:{key}",
            template=TEMPLATE_FOR.get(type(event)),
            keep_session=False,
            proactive=True,  # the box starts this turn: quiet hours hold what it says, STOP cancels it
        )
        if kind == "quiz_followup":
            conn.execute(
                "UPDATE deliveries SET status = 'done' WHERE learner_id = ? AND kind = ? AND key = ?",
                (learner_id, kind, key),
            )
        return outcome


def _turn(
    conn: sqlite3.Connection,
    cache: Any,
    settings: Settings,
    catalogue: Catalogue,
    texts: Texts,
    rules: Rules,
    learner_id: int,
    event: Event,
    now: datetime,
    *,
    channel: str,
    address: str,
    key: str,
    template: str | None = None,
    keep_session: bool = True,
    proactive: bool = False,
) -> TurnOutcome:
    row = learners.count_turn(conn, learner_id)
    turn = row["turn"]
    learner = learners.snapshot(
        conn,
        learner_id,
        leaderboard=rules.leaderboard,
        now=now,
        row=row,
        count_messages=_may_show_message_count(texts, event),
    )
    learner = with_access(conn, settings, learner, now)  # live subscriptions, as data for the pure engine
    # Due review questions, as data: only the daily lesson starts a review; other turns need one in progress.
    found = reviews.due_reviews(
        conn,
        {learner_id: learner.timezone},
        now,
        settings.schedule.review_per_day,
        only_open=not isinstance(event, DeliverDailyLesson),
    ).get(learner_id)
    if found is not None:
        learner = learner.evolve(review=found)
    personalised = None
    if settings.ai.personalise_lessons:  # the cached rephrasing, as data for the engine: never a model call here
        catalogue, personalised = _personalised(cache, catalogue, learner)
    state = sessions.load(conn, learner_id, turn - 1, now) or rebuild(learner, catalogue)
    try:
        decision: Decision = handle(event, state, learner, catalogue, texts, now, rules)
    except Exception:
        # A bug must not silence the bot or make Twilio retry forever: apologise, start the flow afresh.
        log.exception("engine failed", extra={"learner_id": learner_id, "flow": state.flow})
        decision = Decision(rebuild(learner, catalogue), (Reply(texts.t(learner.language, "error.sorry")),), ())
    erased: list[str] = []
    followups = _apply(
        conn,
        cache,
        learner_id,
        decision,
        now,
        question_key=key,
        language=learner.language,
        erased_files=erased,
        data_dir=settings.data_dir,
    )
    if personalised is not None:
        followups += _warm_ups(cache, catalogue, decision, personalised)
    ids = _write_replies(
        conn,
        learner_id,
        decision.replies,
        now,
        channel=channel,
        address=address,
        key=key,
        template=template,
        templates=settings.twilio.templates,
        proactive=proactive,
        native_buttons=settings.channel_kind == "meta",
        limit=message_limit(settings.channel_kind),
    )
    if keep_session and not any(isinstance(e, fx.EraseLearner) for e in decision.effects):
        # Saved in the turn's transaction: it commits, or rolls back, with the turn (the version still guards
        # against a session saved by an older build or restored from a backup).
        sessions.save(conn, learner_id, decision.state.evolve(version=turn), settings.learning.session_ttl_hours, now)
    # A proactive turn (keep_session=False) saves none: it counted the turn, so the next turn rebuilds the state
    # from the database (the lesson just delivered, or the quiz started); the scheduler's batched turns
    # (conversation.batch) do the same without a cache write per learner.
    return TurnOutcome(
        False,
        learner_id,
        ids,
        tuple(followups),
        erased_files=tuple(erased),
        handover=any(isinstance(e, (fx.AskPerson, fx.CloseHandover)) for e in decision.effects),
    )


def _may_show_message_count(texts: Texts, event: Event) -> bool:
    """Could this turn answer MYDATA, the one reply that shows how many messages are stored? Any language's
    keyword counts (a superset of what the engine accepts); every other turn only asks "the first message?"."""
    if not isinstance(event, Message):
        return False
    said = normalise(event.said)
    return any(texts.is_word(code, "mydata", said) for code in texts.locales)


def _personalised(cache: Any, catalogue: Catalogue, learner: Any) -> tuple[Catalogue, frozenset[int]]:
    return for_turn(cache, catalogue, learner)


def _warm_ups(cache: Any, catalogue: Catalogue, decision: Decision, served: frozenset[int]) -> list[Followup]:
    """Lessons delivered as written because no personalised text was cached yet: the worker writes it."""

    delivered = [(e.course_id, e.lesson_id) for e in decision.effects if isinstance(e, fx.RecordDelivery)]
    return [Followup("tutor.personalise", args) for args in warm_ups(cache, catalogue, delivered, served)]


def erase_learner(
    conn: sqlite3.Connection,
    cache: Any,
    learner_id: int,
    now: datetime,
    *,
    keep_key: str | None = None,
    data_dir: Path | None = None,
) -> list[str]:
    """The one erasure, for the learner's DELETE and the admin's: personal data, messages, session and rate-limit
    counters go (progress stays, anonymous). Call inside the caller's transaction; returns files under data/ to
    remove_files() once it has committed (a rolled-back erasure must not have lost them). data_dir: where to find
    the learner's MYDATA export files, which go too."""
    # Without a confirming message to keep as a tombstone (the admin's erasure), '' matches no row: all go.
    files = learners.erase(conn, learner_id, now, keep_key="" if keep_key is None else keep_key)
    files += [found.relative_path for found in exports.files_of(data_dir, learner_id)] if data_dir else []
    sessions.forget(conn, learner_id)
    ratelimit.forget(conn, learner_id)
    return files


def remove_files(settings: Settings, paths: tuple[str, ...] | list[str]) -> None:
    """Delete an erased learner's files (inbound media, certificate PDFs); only ever inside the data folder."""
    root = settings.data_dir.resolve()
    for relative in paths:
        path = (root / relative).resolve()
        if path.is_relative_to(root) and path != root:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # the erasure is committed; a stuck file is logged for the operator, not retried here
                log.warning("could not remove an erased learner's file", extra={"path": relative})


def _write_replies(
    conn: sqlite3.Connection,
    learner_id: int,
    replies: tuple[Reply, ...],
    now: datetime,
    *,
    channel: str,
    address: str,
    key: str,
    template: str | None,
    templates: dict,
    proactive: bool = False,
    native_buttons: bool = False,
    limit: int = MESSAGE_LIMIT,
) -> list[int]:
    ids = []
    for index, reply in enumerate(replies):
        draft = OutboxDraft(
            body=reply.text,
            kind=reply.kind,
            idempotency_key=f"{key}:out:{index}",
            media=(reply.media,) if reply.media else (),
            template_key=reply.template or (template if index == 0 else None),
            content_variables=content_variables(reply),
            proactive=proactive,
            limit=limit,
        )
        draft = with_buttons(draft, reply.options, channel=channel, templates=templates, native=native_buttons)
        message_id = enqueue_outbound(
            conn, learner_id=learner_id, channel=channel, address=address, draft=draft, now=now, sequence=index
        )
        if message_id:
            ids.append(message_id)
    return ids


def content_variables(reply: Reply) -> dict | None:
    """A reply's template variables as Twilio's ContentVariables ({"1": …, "2": …})."""
    return {str(n): value for n, value in enumerate(reply.variables, start=1)} if reply.variables else None


def _apply(
    conn: sqlite3.Connection,
    cache: Any,
    learner_id: int,
    decision: Decision,
    now: datetime,
    *,
    question_key: str,
    language: str,
    erased_files: list[str],
    data_dir: Path | None = None,
) -> list[Followup]:
    followups: list[Followup] = []
    for effect in decision.effects:
        if isinstance(effect, fx.UpdateLearner):
            learners.update(conn, learner_id, dict(effect.changes), now)
            if "language" in dict(effect.changes):
                language = dict(effect.changes)["language"]
        elif isinstance(effect, fx.Enroll):
            progress.enroll(conn, learner_id, effect.course_id, now)
        elif isinstance(effect, fx.MoveToTranslation):
            progress.move_to_translation(
                conn,
                learner_id,
                from_course_id=effect.from_course_id,
                to_course_id=effect.to_course_id,
                lessons=effect.lessons,
                questions=effect.questions,
            )
        elif isinstance(effect, fx.RecordDelivery):
            progress.record_delivery(
                conn,
                learner_id,
                lesson_id=effect.lesson_id,
                course_id=effect.course_id,
                next_position=effect.next_position,
                kind=effect.kind,
                key=effect.key,
                now=now,
            )
        elif isinstance(effect, fx.StartQuiz):
            progress.start_quiz(conn, learner_id, effect.lesson_id, now)
        elif isinstance(effect, fx.RecordAnswer):
            progress.record_answer(conn, learner_id, effect.question_id, effect.given, effect.correct, now)
        elif isinstance(effect, fx.RecordCheckin):
            checkins.record_answer(
                conn, learner_id, effect.course_id, effect.phase, effect.position, effect.given, effect.correct, now
            )
        elif isinstance(effect, fx.StartReview):
            reviews.start_review(conn, learner_id, effect.key, now)
        elif isinstance(effect, fx.RecordReview):
            reviews.record_review(
                conn, learner_id, effect.question_id, effect.rating, now, desired_retention=effect.desired_retention
            )
        elif isinstance(effect, fx.FinishReview):
            reviews.finish_review(conn, learner_id, effect.key)
        elif isinstance(effect, fx.HoldLesson):
            progress.hold_lesson(
                conn, learner_id, key=effect.key, lesson_id=effect.lesson_id, nudge=effect.nudge, now=now
            )
        elif isinstance(effect, fx.SettleHeldLesson):
            progress.settle_held_lesson(conn, learner_id, key=effect.key, status=effect.status, now=now)
        elif isinstance(effect, fx.CompleteLesson):
            progress.complete_lesson(
                conn,
                learner_id,
                lesson_id=effect.lesson_id,
                correct=effect.correct,
                total=effect.total,
                passed=effect.passed,
                local_date=effect.local_date,
                missed=effect.missed,
                now=now,
            )
        elif isinstance(effect, fx.CompleteCourse):
            progress.complete_course(conn, learner_id, effect.course_id, effect.score, now)
        elif isinstance(effect, fx.AwardBadge):
            progress.award_badge(conn, learner_id, effect.code, effect.course_id, now)
        elif isinstance(effect, fx.ScheduleQuiz):
            progress.schedule(
                conn,
                learner_id,
                kind="quiz_followup",
                key=str(effect.lesson_id),
                lesson_id=effect.lesson_id,
                due_at=effect.due_at,
                now=now,
            )
        elif isinstance(effect, fx.OptOut):
            learners.set_opted_out(conn, learner_id, True, now)
        elif isinstance(effect, fx.OptIn):
            learners.set_opted_out(conn, learner_id, False, now)
        elif isinstance(effect, fx.EraseLearner):
            erased_files += erase_learner(conn, cache, learner_id, now, keep_key=question_key, data_dir=data_dir)
        elif isinstance(effect, fx.ExportData):
            progress.request(conn, learner_id, kind=exports.KIND, key=question_key, now=now)
            followups.append(Followup("exports.send", (learner_id, question_key)))
        elif isinstance(effect, fx.IssueCertificate):
            progress.request(conn, learner_id, kind="certificate", key=str(effect.course_id), now=now)
            followups.append(Followup("certificates.issue", (learner_id, effect.course_id)))
        elif isinstance(effect, fx.AskTutor):
            _record_question(conn, learner_id, effect, question_key, language, now)
            followups.append(Followup("tutor.answer", (learner_id, effect.question, question_key)))
        elif isinstance(effect, fx.AskPerson):  # the key: a second reason in one turn is its own event
            key = f"{question_key}:{effect.reason}"
            handovers.open_handover(conn, learner_id, effect.reason, now, detail=effect.detail, key=key, acked=True)
            if effect.reason == "asked":  # soon after a failed payment: the teacher starts from that payment
                payment_handover.after_asked(conn, learner_id, now)
        elif isinstance(effect, fx.HandoverMessage):
            handovers.learner_message(conn, learner_id, effect.body, now, message_key=question_key, acked=effect.acked)
        elif isinstance(effect, fx.CloseHandover):
            handovers.close_open(conn, learner_id, now)
        elif isinstance(effect, (payment_chat.RequestPayment, payment_chat.CancelPlan)):
            followups += [
                Followup(task, args)
                for task, args in payment_effects.apply(conn, learner_id, effect, now, question_key)
            ]
        else:  # a new effect type without a branch here is a bug: fail the turn, roll back, log it
            raise TypeError(f"no handler for effect {effect!r}")
    return followups


def _record_question(
    conn: sqlite3.Connection, learner_id: int, effect: fx.AskTutor, question_key: str, language: str, now: datetime
) -> None:
    """The question as a pending tutor exchange: teachers see it, and the tutor worker answers it."""
    course = (
        conn.execute("SELECT course_id FROM lessons WHERE id = ?", (effect.lesson_id,)).fetchone()
        if effect.lesson_id
        else None
    )
    tutor.start_exchange(
        conn,
        learner_id=learner_id,
        question_key=question_key,
        question=effect.question,
        language=language,
        course_id=course[0] if course else None,
        now=now,
    )


def dispatch(services: Services, outcome: TurnOutcome) -> None:
    """Enqueue follow-up tasks after the commit. The truth is already in SQLite (pending exchange or request),
    so a lost task only delays the work: the owning feature's sweep picks it up."""
    tasks = services.tasks or {}
    for followup in outcome.followups:
        task = tasks.get(followup.task)
        if task is None:
            continue
        try:
            task(*followup.args)
        except Exception:  # the turn is committed; a queue hiccup must not turn into a failed webhook
            log.exception("could not enqueue %s", followup.task)
