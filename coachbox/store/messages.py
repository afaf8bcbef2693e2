"""Queries for the messages table: inbound rows (de-duplicated) and the outbox.

Writing rows, the sender's claims and outcomes, reconciling stale claims, status callbacks, the admin's reads and
retries, counts (health, metrics, roll-ups) and nightly redaction. Callers own the transactions (`store.transaction`);
these functions only execute on the connection they are given. A few statements stay with the table group whose work
they do (the proactive fan-out, broadcasts, held lessons, erasure, dashboard counts), and core.events looks up a
message's learner itself (core is below store).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from coachbox.content.markup import MESSAGE_LIMIT, split_body
from coachbox.core.costs import Cost

if TYPE_CHECKING:
    from coachbox.channels.base import Inbound  # annotations only: store never builds one


@dataclass(frozen=True)
class OutboxDraft:
    """A message to a learner, as a turn or a job decides it (before it is a row)."""

    body: str
    kind: str = "reply"
    idempotency_key: str | None = None  # deterministic for proactive messages, e.g. "lesson:42:2026-03-02:0"
    media: tuple[str, ...] = ()  # paths under data/ (media/…, certificates/…); signed into URLs at send time
    template_key: str | None = None  # [twilio.templates] key to use outside the 24-hour window
    content_variables: dict | None = None
    # The box starts it on its own (a daily lesson, reminder, summary, nudge, broadcast…): quiet hours hold it and
    # STOP cancels it. False: it answers a person (the learner's own message, what they asked a worker for, a
    # teacher writing now) and goes at once, whatever the hour.
    proactive: bool = False
    limit: int = MESSAGE_LIMIT  # the channel's longest body (content.markup.message_limit); longer ones are split


def inbound_key(inbound: Inbound) -> str:
    return f"in:{inbound.channel}:{inbound.provider_sid}"


def is_duplicate_inbound(conn: sqlite3.Connection, inbound: Inbound) -> bool:
    row = conn.execute("SELECT 1 FROM messages WHERE idempotency_key = ?", (inbound_key(inbound),)).fetchone()
    return row is not None


# The learner's class and course that the Costs page counts a message under (migration 0028), read in the INSERT
# itself, each taking the learner id as its parameter ('' / 0 for none): migration 0031's trigger then need not
# UPDATE the row just written to note them (about 3 µs of a row's 55-70, the row written twice and learners read
# four times).
COST_CLASS = "COALESCE((SELECT cohort FROM learners WHERE id = ?), '')"
COST_COURSE = "COALESCE((SELECT current_course_id FROM learners WHERE id = ?), 0)"


def record_inbound(
    conn: sqlite3.Connection, inbound: Inbound, learner_id: int | None, cost: Cost | None = None
) -> int | None:
    """Insert an inbound row; None when this provider message id was already recorded (a webhook retry).
    `cost`: its market, category and estimated cost (channels.costs.inbound_cost; None for the simulator)."""
    media = [{"url": m.url, "content_type": m.content_type, "path": m.path} for m in inbound.media]
    now = inbound.received_at.isoformat()
    cursor = conn.execute(
        f"""INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, idempotency_key,
                                  provider_sid, status, created_at, updated_at, market, cost_category,
                                  cost_estimate_micros, cost_class, cost_course_id)
            VALUES (?, 'in', ?, ?, ?, ?, 'inbound', ?, ?, 'received', ?, ?, ?, ?, ?, {COST_CLASS}, {COST_COURSE})
            ON CONFLICT (idempotency_key) DO NOTHING""",
        (
            learner_id,
            inbound.channel,
            inbound.address,
            inbound.body,
            json.dumps(media),
            inbound_key(inbound),
            inbound.provider_sid,
            now,
            now,
            cost.market if cost else None,
            cost.category if cost else None,
            cost.estimate_micros if cost else None,
            learner_id,
            learner_id,
        ),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def enqueue_outbound(
    conn: sqlite3.Connection,
    *,
    learner_id: int,
    channel: str,
    address: str,
    draft: OutboxDraft,
    now: datetime,
    sequence: int = 0,
    status: str = "queued",
    next_attempt_at: datetime | None = None,
) -> int | None:
    """Write one outbox row (call inside the turn's transaction). None when its idempotency key exists.

    A body over Twilio's 1,600 characters becomes several rows in order (the sender keeps a learner's rows
    in id order); the first carries media and template, the others are '<kind>.continued' parts. Returns
    the first row's id. `next_attempt_at`: not before then (a teacher's "send at the end of quiet hours").
    """
    stamp = now.isoformat()
    first_id = None
    for part_no, body in enumerate(split_body(draft.body, draft.limit)):
        first = part_no == 0
        key = draft.idempotency_key if first or draft.idempotency_key is None else f"{draft.idempotency_key}#{part_no}"
        cursor = conn.execute(
            f"""INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, template_key,
                                      content_variables, idempotency_key, status, next_attempt_at, sequence,
                                      proactive, created_at, updated_at, cost_class, cost_course_id)
                VALUES (?, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {COST_CLASS}, {COST_COURSE})
                ON CONFLICT (idempotency_key) DO NOTHING""",
            (
                learner_id,
                channel,
                address,
                body,
                json.dumps(list(draft.media) if first else []),
                draft.kind,
                draft.template_key if first else f"{draft.kind}.continued",
                json.dumps(draft.content_variables) if first and draft.content_variables is not None else None,
                key,
                status,
                (next_attempt_at or now).isoformat(),
                sequence,
                int(draft.proactive),
                stamp,
                stamp,
                learner_id,
                learner_id,
            ),
        )
        if first:
            if cursor.rowcount != 1:
                return None
            first_id = cursor.lastrowid
    return first_id


def transcript(conn: sqlite3.Connection, learner_id: int, *, after_id: int = 0, limit: int = 200) -> list[sqlite3.Row]:
    """A learner's messages in order (admin transcript, terminal chat, simulator)."""
    return conn.execute(
        "SELECT * FROM messages WHERE learner_id = ? AND id > ? ORDER BY id LIMIT ?",
        (learner_id, after_id, limit),
    ).fetchall()


# -- the sender: claims, sends, outcomes (channels/outbox.py owns the transactions) -----------------------------------
# Quiet hours ([schedule]) hold what the box starts on its own (rows written `proactive`), never an answer to a
# person. A row moved on to the end of its learner's quiet hours carries HELD in error_code: a marker, not an error
# (channels.states words it; it is cleared when the row is claimed).
HELD = "quiet_hours"
# A broadcast or reminder held because the month's messaging budget is spent ([costs] stop_proactive_at_budget):
# still queued, moved on an hour at a time until the month turns or the budget is raised (channels.outbox).
BUDGET = "budget"


# The claim reads due rows in the order it claims them, answers (proactive = 0) then proactive ones, each in
# (next_attempt_at, id) order: one range of messages_outbox_claim (migration 0029) per kind, ended by the LIMIT, so
# its cost does not grow with the backlog. Rows held for later sort after :now and are never read. INDEXED BY:
# with the weekly ANALYZE's statistics the planner may prefer messages_outbox_due and sort every due row again.
_DUE = """SELECT m.*, l.last_inbound_at, COALESCE(l.opted_out, 0) AS opted_out, l.timezone
           FROM messages m INDEXED BY messages_outbox_claim LEFT JOIN learners l ON l.id = m.learner_id
           WHERE m.direction = 'out' AND m.status IN ('queued', 'retry') AND m.proactive = :proactive
             AND m.next_attempt_at <= :now
             AND NOT EXISTS (SELECT 1 FROM messages p
                             WHERE p.learner_id = m.learner_id AND p.id < m.id
                               AND p.direction = 'out' AND p.status IN ('queued', 'retry', 'sending')
                               AND (m.proactive OR NOT p.proactive OR p.status = 'sending'
                                    OR p.next_attempt_at <= :now))
           ORDER BY m.next_attempt_at, m.id LIMIT :limit"""


def due_outbound(conn: sqlite3.Connection, now: str, limit: int) -> list[sqlite3.Row]:
    """Due outbound rows, each its learner's earliest pending one, with the learner's last_inbound_at, opted_out and
    timezone; answers first, then proactive rows, each earliest due first (then oldest first).

    A learner's rows go in order: a row waits while an earlier one of theirs is still to send (a message's parts,
    a lesson and its quiz). An answer (not proactive) waits only behind earlier answers and behind rows going out
    now (claimed, or due): never behind a proactive row held for quiet hours, scheduled for later or backing off,
    and never behind a waiting one. The predicate stays on the row pair, served by messages_outbox_learner; the
    rows are read in claim order from messages_outbox_claim, so a claim reads about `limit` rows (plus those
    waiting behind an earlier row of their learner), whatever the backlog."""
    rows = conn.execute(_DUE, {"now": now, "limit": limit, "proactive": 0}).fetchall()
    if len(rows) < limit:
        rows += conn.execute(_DUE, {"now": now, "limit": limit - len(rows), "proactive": 1}).fetchall()
    return rows


def hold_outbound(
    conn: sqlite3.Connection, message_id: int, until: str, reason: str, now: str, code: str = HELD
) -> None:
    """Move a due row on to `until` (the end of the learner's quiet hours), marked HELD (or BUDGET), unclaimed.

    The learner's later proactive rows due before then move on to `until` too, marked alike (as hold_new_outbound
    marks a message's parts; a retry keeps its own error): they wait behind this row anyway, and left due they
    would be read by every claim until then (a broadcast's second parts, all night) and keep a later answer
    waiting behind them (due_outbound's rule), though they cannot go before this row. INDEXED BY: the learner's
    rows after this one, not every due proactive row (messages_outbox_claim, which the planner would pick)."""
    moved = conn.execute(
        """UPDATE messages SET next_attempt_at = ?, error_code = ?, error_message = ?, updated_at = ?
           WHERE id = ? AND status IN ('queued', 'retry')""",
        (until, code, reason, now, message_id),
    ).rowcount
    if not moved:
        return
    conn.execute(
        f"""UPDATE messages INDEXED BY messages_learner SET next_attempt_at = :until, updated_at = :now,
                  error_message = CASE WHEN error_code IS NULL OR error_code IN ('{HELD}', '{BUDGET}') THEN :reason
                                       ELSE error_message END,
                  error_code = CASE WHEN error_code IS NULL OR error_code IN ('{HELD}', '{BUDGET}') THEN :code
                                    ELSE error_code END
            WHERE learner_id = (SELECT learner_id FROM messages WHERE id = :id) AND id > :id
              AND direction = 'out' AND status IN ('queued', 'retry') AND proactive = 1 AND next_attempt_at < :until""",
        {"until": until, "now": now, "id": message_id, "reason": reason, "code": code},
    )


def hold_new_outbound(
    conn: sqlite3.Connection, message_id: int, learner_id: int, key: str, until: str, reason: str, now: str
) -> None:
    """A row just written (and its later parts, keys `key#n`) waits until `until`, marked HELD as the sender marks
    the rows it holds: the broadcast fan-out holding a learner in their quiet hours."""
    conn.execute(
        """UPDATE messages SET next_attempt_at = ?, error_code = ?, error_message = ?, updated_at = ?
           WHERE id >= ? AND learner_id = ? AND (idempotency_key = ? OR idempotency_key LIKE ?)
             AND status IN ('queued', 'retry')""",
        (until, HELD, reason, now, message_id, learner_id, key, f"{key}#%"),
    )


def claim_outbound(conn: sqlite3.Connection, message_id: int, claimer: str, now: str) -> bool:
    """Claim a due row for sending (compare-and-set, counting an attempt); False when another process changed it."""
    cursor = conn.execute(
        f"""UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_at = ?, claimed_by = ?,
                  error_code = CASE WHEN error_code IN ('{HELD}', '{BUDGET}') THEN NULL ELSE error_code END,
                  updated_at = ?
           WHERE id = ? AND status IN ('queued', 'retry')""",
        (now, claimer, now, message_id),
    )
    return cursor.rowcount == 1


def confirm_claim(conn: sqlite3.Connection, message_id: int, claimer: str, claimed_at: str, now: str) -> bool:
    """Compare-and-set right before the HTTP request: the row is still ours, unchanged since we claimed it.

    Between the claim and the send a row can wait for its rate slot or for a lookup; meanwhile a reconcile in
    another process may have judged the claim stale and released it, or a status callback (?m=id) may have
    settled it. Either way we must not send. Refreshing claimed_at also keeps a live claim from looking stale.
    """
    cursor = conn.execute(
        """UPDATE messages SET claimed_at = ? WHERE id = ? AND status = 'sending' AND claimed_by = ? AND claimed_at = ?
             AND provider_sid IS NULL""",
        (now, message_id, claimer, claimed_at),
    )
    return cursor.rowcount == 1


def mark_sent(
    conn: sqlite3.Connection,
    message_id: int,
    sid: str,
    content_sid: str | None,
    now: str,
    cost: Cost | None = None,
    refused_micros: int = 0,
) -> None:
    """Record that Twilio took the row (its sid), and what it is estimated to cost (`cost`: channels.costs.
    outbound_cost, plus `refused_micros` for each earlier send of it WhatsApp refused outside the window)."""
    # A status callback (tagged ?m=id) may have arrived first and moved the row on: never move it back.
    conn.execute(
        """UPDATE messages SET provider_sid = COALESCE(provider_sid, ?), content_sid = ?, sent_at = COALESCE(sent_at, ?),
                  status = CASE WHEN status = 'sending' THEN 'sent' ELSE status END,
                  error_code = NULL, error_message = NULL, updated_at = ?
           WHERE id = ?""",
        (sid, content_sid, now, now, message_id),
    )
    if cost is not None:
        conn.execute(
            """UPDATE messages SET market = ?, cost_category = ?,
                      cost_estimate_micros = ? + ? * (SELECT COUNT(*) FROM message_sends
                                                      WHERE message_id = messages.id AND refused = 1)
               WHERE id = ?""",
            (cost.market, cost.category, cost.estimate_micros, refused_micros, message_id),
        )


def finish_claim(
    conn: sqlite3.Connection,
    message_id: int,
    status: str,
    now: str,
    *,
    code: str | None = None,
    reason: str = "",
    next_attempt_at: str | None = None,
    use_template: bool | None = None,
    uncount: bool = False,
) -> None:
    """Move a claimed ('sending') row on to `status` with the outcome; `uncount` gives back the claim's attempt."""
    conn.execute(
        """UPDATE messages SET status = ?, error_code = ?, error_message = ?,
                  next_attempt_at = COALESCE(?, next_attempt_at), use_template = COALESCE(?, use_template),
                  attempts = attempts - ?, updated_at = ?
           WHERE id = ? AND status = 'sending'""",
        (
            status,
            code,
            reason or None,
            next_attempt_at,
            None if use_template is None else int(use_template),
            int(uncount),
            now,
            message_id,
        ),
    )


def created_at_of(conn: sqlite3.Connection, message_id: int) -> str | None:
    row = conn.execute("SELECT created_at FROM messages WHERE id = ?", (message_id,)).fetchone()
    return row[0] if row else None


# -- reconciling claims a dead sender left 'sending' (channels/reconcile.py) ------------------------------------------
def sid_is_recorded(conn: sqlite3.Connection, sid: str) -> bool:
    """Was some row already sent under this provider sid (its current one, or an earlier send's)?"""
    return (
        conn.execute("SELECT 1 FROM message_sends WHERE provider_sid = ?", (sid,)).fetchone() is not None
        or conn.execute("SELECT 1 FROM messages WHERE provider_sid = ?", (sid,)).fetchone() is not None
    )


# -- every sid a row was sent under (message_sends; the triggers of migration 0014 record each sid a row takes) ----
def record_send(conn: sqlite3.Connection, message_id: int, sid: str, now: str) -> bool:
    """A sid Twilio reports for our row (a status callback tagged ?m=id) that the row does not carry: an earlier
    send whose answer was lost, so the learner got this row more than once. True if it was new."""
    cursor = conn.execute(
        """INSERT OR IGNORE INTO message_sends (provider_sid, message_id, recorded_at)
           SELECT ?, id, ? FROM messages WHERE id = ? AND direction = 'out'""",
        (sid, now, message_id),
    )
    return cursor.rowcount == 1


def sends_of(conn: sqlite3.Connection, message_id: int) -> list[sqlite3.Row]:
    """Every sid the row was sent under, oldest first (refused: WhatsApp refused it and a template went instead)."""
    return conn.execute(
        "SELECT provider_sid, recorded_at, refused FROM message_sends WHERE message_id = ? ORDER BY recorded_at, rowid",
        (message_id,),
    ).fetchall()


def doubled_outbound(conn: sqlite3.Connection, limit: int = 100) -> list[sqlite3.Row]:
    """Outbound rows Twilio took more than once (refused attempts not counted), newest first, with their sids."""
    return conn.execute(
        """SELECT s.message_id, m.learner_id, m.address, COUNT(*) AS sends,
                  GROUP_CONCAT(s.provider_sid, ' ') AS sids, MAX(s.recorded_at) AS last_at
           FROM message_sends s JOIN messages m ON m.id = s.message_id
           WHERE s.refused = 0 GROUP BY s.message_id HAVING COUNT(*) > 1
           ORDER BY s.message_id DESC LIMIT ?""",
        (limit,),
    ).fetchall()


def count_doubled_outbound(conn: sqlite3.Connection) -> int:
    """How many outbound rows Twilio took more than once."""
    row = conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM message_sends WHERE refused = 0 GROUP BY message_id HAVING COUNT(*) > 1)"
    ).fetchone()
    return int(row[0])


def sending_outbound(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every outbound row claimed for sending, with its claim, in id order."""
    return conn.execute(
        """SELECT id, address, body, claimed_at, claimed_by, use_template, created_at FROM messages
           WHERE direction = 'out' AND status = 'sending' ORDER BY id"""
    ).fetchall()


# Both compare claimed_at with what reconcile read: a live sender that refreshed its claim meanwhile
# (confirm_claim, right before its HTTP request) keeps the row, and reconcile changes nothing.
def release_stale_claim(
    conn: sqlite3.Connection, message_id: int, claimer: str, claimed_at: str | None, now: str
) -> None:
    """A stale claim Twilio has no record of: the row is due again."""
    conn.execute(
        """UPDATE messages SET status = 'retry', next_attempt_at = ?, updated_at = ?
           WHERE id = ? AND status = 'sending' AND claimed_by = ? AND claimed_at = ?""",
        (now, now, message_id, claimer, claimed_at),
    )


def mark_stale_claim_sent(
    conn: sqlite3.Connection, message_id: int, claimer: str, claimed_at: str | None, sid: str, now: str
) -> None:
    """A stale claim Twilio has a record of (`sid`): the row was sent."""
    conn.execute(
        """UPDATE messages SET status = 'sent', provider_sid = ?, sent_at = ?, updated_at = ?
           WHERE id = ? AND status = 'sending' AND claimed_by = ? AND claimed_at = ?""",
        (sid, now, now, message_id, claimer, claimed_at),
    )


# -- status callbacks (channels/twilio/status.py) ---------------------------------------------------------------------
# Callbacks arrive out of order (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks):
# a row only moves to a higher rank, so "read" never becomes "delivered" and "delivered" never "sent".
RANK = {
    "queued": 1,
    "accepted": 1,
    "scheduled": 1,
    "sending": 2,
    "sent": 3,
    "failed": 4,
    "undelivered": 4,
    "delivered": 5,
    "read": 6,
}
# Our own states before Twilio has the message (ours, not Twilio's, hence rank 0).
_UNSENT = {"queued", "retry", "sending", "waiting"}


def status_rank(status: str) -> int:
    """A row's status as RANK orders it (our own states before Twilio has the message: 0)."""
    return 0 if status in _UNSENT else RANK.get(status, 0)


# The forward-only rule in SQL, for the one-statement path below: the row's rank, as status_rank() computes it.
_ROW_RANK_SQL = (
    "CASE WHEN status IN ('queued', 'retry', 'sending', 'waiting') THEN 0 "
    + " ".join(f"WHEN status = '{name}' THEN {rank}" for name, rank in RANK.items())
    + " ELSE 0 END"
)
# Two forms: the row already has this sid (nearly always: the send was recorded before its callbacks came), and
# the row has none yet (a callback that beat the send's record). Only the second names provider_sid in SET: naming
# it rewrites the row's messages_provider_sid entry even for the same value, a random index page in every
# callback's commit (issue #15, counted with dbstat: 4.47 -> 3.66 pages a callback).
_FAST_UPDATE = f"""UPDATE messages SET status = :status{{set_sid}},
                          sent_at = COALESCE(sent_at, :now),
                          delivered_at = CASE WHEN :status IN ('delivered', 'read') THEN COALESCE(delivered_at, :now)
                                              ELSE delivered_at END,
                          read_at = CASE WHEN :status = 'read' THEN COALESCE(read_at, :now) ELSE read_at END,
                          updated_at = :now
                   WHERE {{where}} AND direction = 'out' AND {{sid}} AND {_ROW_RANK_SQL} < :rank"""
_FAST_BY_ID = _FAST_UPDATE.format(where="id = :id", set_sid="", sid="provider_sid = :sid")
_FAST_BY_ID_UNSENT = _FAST_UPDATE.format(where="id = :id", set_sid=", provider_sid = :sid", sid="provider_sid IS NULL")
_FAST_BY_SID = _FAST_UPDATE.format(where="provider_sid = :sid", set_sid="", sid="1")


def apply_receipt(conn: sqlite3.Connection, message_id: int | None, sid: str, status: str, now: str) -> bool:
    """A delivery receipt (a status of RANK, no error code), forward only; False when no row moved (stale, not ours)."""
    # Receipts dominate webhook traffic (three or so per message): one UPDATE that applies the forward-only rule
    # itself, instead of a read-then-write transaction. A row it does not touch is stale or not ours.
    params = {"status": status, "sid": sid, "now": now, "rank": RANK[status], "id": message_id}
    if message_id is not None and (
        conn.execute(_FAST_BY_ID, params).rowcount or conn.execute(_FAST_BY_ID_UNSENT, params).rowcount
    ):
        return True
    # No tag, or the tag names a row whose sid differs (an earlier attempt's callback): by the sid then.
    return bool(conn.execute(_FAST_BY_SID, params).rowcount)


def outbound_for_callback(conn: sqlite3.Connection, message_id: int | None, sid: str) -> sqlite3.Row | None:
    """The outbound row a status callback is about: by our ?m= id, else by its provider sid."""
    row = None
    if message_id is not None:
        row = conn.execute(
            "SELECT id, learner_id, status, provider_sid, use_template, template_key, kind FROM messages "
            "WHERE id = ? AND direction = 'out'",
            (message_id,),
        ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT id, learner_id, status, provider_sid, use_template, template_key, kind FROM messages "
            "WHERE provider_sid = ? AND direction = 'out'",
            (sid,),
        ).fetchone()
    return row


def requeue_as_template(conn: sqlite3.Connection, message_id: int, code: str | None, reason: str, now: str) -> None:
    """A free-form send the window refused (63016): queued again, to go as a template (its old sid dropped from
    the row, kept in message_sends as refused: not a second copy the learner got)."""
    conn.execute(
        """UPDATE message_sends SET refused = 1
           WHERE message_id = ? AND provider_sid = (SELECT provider_sid FROM messages WHERE id = ?)""",
        (message_id, message_id),
    )
    conn.execute(
        """UPDATE messages SET status = 'queued', use_template = 1, provider_sid = NULL, error_code = ?,
                  error_message = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?""",
        (code, reason, now, now, message_id),
    )


def record_status(
    conn: sqlite3.Connection,
    message_id: int,
    status: str,
    sid: str,
    code: str | None,
    reason: str | None,
    now: str,
) -> None:
    """Apply a status callback's status, sid and error (an error already recorded is kept when it brings none)."""
    conn.execute(
        """UPDATE messages SET status = ?, provider_sid = COALESCE(provider_sid, ?),
                  error_code = COALESCE(?, error_code), error_message = COALESCE(?, error_message),
                  sent_at = COALESCE(sent_at, ?),
                  delivered_at = CASE WHEN ? IN ('delivered', 'read') THEN COALESCE(delivered_at, ?) ELSE delivered_at END,
                  read_at = CASE WHEN ? = 'read' THEN COALESCE(read_at, ?) ELSE read_at END,
                  updated_at = ?
           WHERE id = ?""",
        (status, sid, code, reason, now, status, now, status, now, now, message_id),
    )


def requeue_waiting_outbound(conn: sqlite3.Connection, learner_id: int, since: str, now: str) -> None:
    """The learner wrote, so the 24-hour window is open again: their rows written since `since` that waited for it
    (no template configured) are queued now. Not a nudge: the turn on this message released (or kept) the lesson
    it announced, so its "reply to get it" is out of date."""
    # Looked for first: nearly always there are none, and a read takes no write lock and needs no commit.
    if (
        conn.execute(
            """SELECT 1 FROM messages WHERE learner_id = ? AND direction = 'out' AND status = 'waiting'
                       AND kind != 'nudge' AND created_at >= ? LIMIT 1""",
            (learner_id, since),
        ).fetchone()
        is None
    ):
        return
    conn.execute(
        """UPDATE messages SET status = 'queued', next_attempt_at = ?, updated_at = ?
           WHERE learner_id = ? AND direction = 'out' AND status = 'waiting' AND kind != 'nudge' AND created_at >= ?""",
        (now, now, learner_id, since),
    )


# -- counts and small reads (health, metrics, roll-ups, the simulator, the voice-note task) ---------------------------
# Statuses of work still to do: few rows, served by the partial index messages_outbox_due.
BACKLOG_STATUSES = ("queued", "retry", "sending", "waiting")


def outbox_backlog(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows still to send, by status (cheap: health checks run every few seconds)."""
    marks = ",".join("?" * len(BACKLOG_STATUSES))
    rows = conn.execute(
        f"SELECT status, COUNT(*) FROM messages WHERE direction = 'out' AND status IN ({marks}) GROUP BY status",
        BACKLOG_STATUSES,
    ).fetchall()
    counts = dict.fromkeys(BACKLOG_STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts


def state_groups(conn: sqlite3.Connection, now: str, *, key_range: tuple[str, str] | None = None) -> list[sqlite3.Row]:
    """Outbound rows counted by what decides their state in channels.states: (status, code, later, held_until, n).

    code: a row still to send's error code (HELD, a pause, the last attempt's error), else NULL; later: 1 when a
    row still to send waits for a later time; held_until: when a row held for quiet hours goes. Without
    `key_range`: the backlog only (rows still to send, served by messages_outbox_due); with it: every row whose
    idempotency key lies in [lo, hi) (one broadcast's, one range of the unique index)."""
    pending = "status IN ('queued', 'retry')"
    select = f"""SELECT status, CASE WHEN {pending} THEN error_code END AS code,
                        CASE WHEN {pending} AND next_attempt_at > :now THEN 1 ELSE 0 END AS later,
                        CASE WHEN {pending} AND next_attempt_at > :now AND error_code IS '{HELD}'
                             THEN next_attempt_at END AS held_until,
                        COUNT(*) AS n FROM messages"""
    if key_range is None:
        marks = ", ".join(f"'{status}'" for status in BACKLOG_STATUSES)
        where = f"direction = 'out' AND status IN ({marks})"
        params: dict[str, str] = {"now": now}
    else:
        where = "idempotency_key >= :lo AND idempotency_key < :hi AND direction = 'out'"
        params = {"now": now, "lo": key_range[0], "hi": key_range[1]}
    return conn.execute(f"{select} WHERE {where} GROUP BY 1, 2, 3, 4", params).fetchall()


def outbound_totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Every outbound row ever, by status (scans the whole table: cache it)."""
    rows = conn.execute("SELECT status, COUNT(*) FROM messages WHERE direction = 'out' GROUP BY status").fetchall()
    return {status: count for status, count in rows}


def outbound_status_counts(conn: sqlite3.Connection, start: str, end: str) -> dict[str, int]:
    """Outbound rows created in [start, end), by their status now."""
    return dict(
        conn.execute(
            """SELECT status, COUNT(*) FROM messages WHERE direction = 'out' AND created_at >= ? AND created_at < ?
           GROUP BY status""",
            (start, end),
        ).fetchall()
    )


def active_learner_count(conn: sqlite3.Connection, start: str, end: str) -> int:
    """Learners who wrote in [start, end)."""
    return conn.execute(
        "SELECT COUNT(DISTINCT learner_id) FROM messages WHERE direction = 'in' AND created_at >= ? AND created_at < ?",
        (start, end),
    ).fetchone()[0]


def active_learners_by_cohort(conn: sqlite3.Connection, start: str, end: str) -> list[sqlite3.Row]:
    """(cohort, learners who wrote in [start, end)) for every cohort with any."""
    return conn.execute(
        """SELECT le.cohort, COUNT(DISTINCT m.learner_id) FROM messages m JOIN learners le ON le.id = m.learner_id
               WHERE m.direction = 'in' AND m.created_at >= ? AND m.created_at < ? AND le.cohort IS NOT NULL
                 AND le.cohort != '' GROUP BY le.cohort""",
        (start, end),
    ).fetchall()


def outbound_bodies(conn: sqlite3.Connection, ids: list[int]) -> list[dict[str, Any]]:
    """These rows' id, body, kind and media (decoded), in id order: a turn's replies, as the simulator and the
    terminal chat show them."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT id, body, kind, media FROM messages WHERE id IN ({marks}) ORDER BY id", ids).fetchall()
    return [
        {"id": r["id"], "body": r["body"], "kind": r["kind"], "media": json.loads(r["media"] or "[]")} for r in rows
    ]


# What a learner's phone shows, for the simulator page's live feed and `coachbox chat` (channels.simulator.Feed).
_FEED_COLUMNS = "id, body, kind, media, status, next_attempt_at, created_at, sent_at"


def outbound_after(conn: sqlite3.Connection, learner_id: int, after_id: int, *, limit: int = 50) -> list[sqlite3.Row]:
    """A learner's outbound rows after `after_id`, whatever their status, oldest first (one range of an index)."""
    return conn.execute(
        f"SELECT {_FEED_COLUMNS} FROM messages WHERE learner_id = ? AND id > ? AND direction = 'out' "
        "ORDER BY id LIMIT ?",
        (learner_id, after_id, limit),
    ).fetchall()


def outbound_rows(conn: sqlite3.Connection, ids: list[int]) -> list[sqlite3.Row]:
    """These outbound rows (the same columns), oldest first."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return conn.execute(
        f"SELECT {_FEED_COLUMNS} FROM messages WHERE id IN ({marks}) AND direction = 'out' ORDER BY id", ids
    ).fetchall()


def inbound_id(conn: sqlite3.Connection, inbound: Inbound) -> int | None:
    """The id of this inbound message's row (None: not recorded)."""
    row = conn.execute("SELECT id FROM messages WHERE idempotency_key = ?", (inbound_key(inbound),)).fetchone()
    return row[0] if row else None


def newest_message_id(conn: sqlite3.Connection, learner_id: int) -> int:
    """The id of a learner's newest message, either way (0: none yet)."""
    row = conn.execute("SELECT MAX(id) FROM messages WHERE learner_id = ?", (learner_id,)).fetchone()
    return row[0] or 0


def unsent_outbound(conn: sqlite3.Connection, learner_id: int, up_to_id: int) -> list[sqlite3.Row]:
    """A learner's outbound rows up to `up_to_id` still to be sent (BACKLOG_STATUSES: held, retrying, waiting)."""
    marks = ",".join("?" * len(BACKLOG_STATUSES))
    return conn.execute(
        f"SELECT {_FEED_COLUMNS} FROM messages WHERE learner_id = ? AND id <= ? AND direction = 'out' "
        f"AND status IN ({marks}) ORDER BY id",
        (learner_id, up_to_id, *BACKLOG_STATUSES),
    ).fetchall()


def pending_voice_note(conn: sqlite3.Connection, message_id: int) -> sqlite3.Row | None:
    """An inbound voice note still pending (its deliveries row), with its learner; None when handled or erased."""
    return conn.execute(
        """SELECT m.id, m.learner_id, m.channel, m.address, m.provider_sid, m.media, m.created_at,
                  l.phone, l.wa_id, l.profile_name, l.language
           FROM deliveries d JOIN messages m ON m.id = ? JOIN learners l ON l.id = m.learner_id
           WHERE d.learner_id = m.learner_id AND d.kind = 'voice_note' AND d.key = CAST(m.id AS TEXT)
             AND d.status = 'pending' AND l.status != 'deleted'""",
        (message_id,),
    ).fetchone()


# -- housekeeping (schedule/housekeeping.py) --------------------------------------------------------------------------
def expire_waiting_outbound(conn: sqlite3.Connection, before: str, now: str) -> int:
    """Cancel 'waiting' rows created before `before`: the window they wait for can no longer open. How many."""
    return conn.execute(
        """UPDATE messages SET status = 'cancelled', updated_at = ?,
                  error_message = 'expired: waited a week for the learner to open the 24-hour window'
           WHERE direction = 'out' AND status = 'waiting' AND created_at < ?""",
        (now, before),
    ).rowcount


# Only rows nothing will send again lose their words; queued, sending, retry and waiting rows keep them. A list of
# final statuses rather than of pending ones, so a status added later is kept until someone decides otherwise.
FINAL_STATUSES = ("received", "sent", "delivered", "read", "failed", "undelivered", "cancelled")
_FINAL = ", ".join(f"'{status}'" for status in FINAL_STATUSES)
_IDS = "(SELECT value FROM json_each(?))"
# The unary + keeps the planner off messages_created: each batch then walks the rowid range after the last one
# instead of sorting every old row again (a night with nothing to do reads the table once, holding no lock).
# updated_at must be that old as well: a row a status callback moved lately (63016 re-queues a failed send) waits.
_STILL_OLD = f"redacted_at IS NULL AND status IN ({_FINAL}) AND +created_at < ? AND +updated_at < ?"


def redactable_ids(conn: sqlite3.Connection, after: int, before: str, limit: int) -> list[int]:
    """Ids after `after` of final rows created and last changed before `before`, not yet redacted; `limit` of them."""
    return [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM messages WHERE id > ? AND {_STILL_OLD} ORDER BY id LIMIT ?", (after, before, before, limit)
        )
    ]


def redactable_media_paths(conn: sqlite3.Connection, ids: list[int], before: str) -> list[str]:
    """The stored files (data/ paths) of these inbound rows, where they are still redactable."""
    return [
        item["path"]
        for (media,) in conn.execute(
            f"SELECT media FROM messages WHERE id IN {_IDS} AND direction = 'in' AND {_STILL_OLD}",
            (json.dumps(ids), before, before),
        )
        for item in json.loads(media or "[]")
        if isinstance(item, dict) and item.get("path")
    ]


def redact(conn: sqlite3.Connection, ids: list[int], before: str, now: str) -> int:
    """Blank the body, media and template variables of these rows where they are still redactable; how many."""
    return conn.execute(
        f"""UPDATE messages SET body = '', media = '[]', content_variables = NULL, redacted_at = ?
            WHERE id IN {_IDS} AND {_STILL_OLD}""",
        (now, json.dumps(ids), before, before),
    ).rowcount


RETRYABLE = ("failed", "undelivered", "waiting")


def retry_message(conn: sqlite3.Connection, message_id: int, now: datetime) -> bool:
    """Queue a failed, undelivered or waiting row again (an admin's retry); False when it is none of those.

    The look-up-before-resend rule still holds: a row whose last attempt may have reached Twilio (no sid, an
    unsure error) keeps its attempts and error code, so the sender looks it up at Twilio first. A row Twilio took
    and then reported failed (it has a sid) starts afresh: the sid is cleared, or the sender could never claim it
    again. The sender re-applies the 24-hour rule, opt-outs and quiet hours; the retry horizon still counts from
    created_at, so a failing retry of an old row is recorded after one more attempt.
    """
    stamp = now.isoformat()
    cursor = conn.execute(
        f"""UPDATE messages SET status = 'queued', next_attempt_at = :now, updated_at = :now,
                  attempts = CASE WHEN provider_sid IS NULL THEN attempts ELSE 0 END,
                  error_code = CASE WHEN provider_sid IS NULL THEN error_code ELSE NULL END,
                  error_message = NULL, provider_sid = NULL, sent_at = NULL, delivered_at = NULL, read_at = NULL
           WHERE id = :id AND direction = 'out' AND status IN {RETRYABLE}""",
        {"now": stamp, "id": message_id},
    )
    return cursor.rowcount == 1


# -- the admin's reads: a learner's transcript by pages, the outbox's stuck and failed rows, retrying them ---------


def transcript_page(
    conn: sqlite3.Connection, learner_id: int, *, before_id: int | None = None, limit: int = 100
) -> list[sqlite3.Row]:
    """The newest `limit` messages (or those before `before_id`), returned oldest first for reading; `sends`: how
    many times Twilio took an outbound one (more than 1: the learner got it more than once)."""
    rows = conn.execute(
        """SELECT id, direction, body, media, kind, status, error_code, error_message, created_at, sent_at,
                  redacted_at, next_attempt_at,
                  (SELECT COUNT(*) FROM message_sends s WHERE s.message_id = messages.id AND s.refused = 0) AS sends
           FROM messages WHERE learner_id = ? AND id < ? ORDER BY id DESC LIMIT ?""",
        (learner_id, before_id or 2**62, limit),
    ).fetchall()
    return rows[::-1]


def recent_outbound_states(conn: sqlite3.Connection, learner_id: int, limit: int) -> list[sqlite3.Row]:
    """What decides the state (channels.states) of a learner's newest `limit` outbound rows, newest first."""
    return conn.execute(
        """SELECT id, direction, status, error_code, error_message, next_attempt_at FROM messages
           WHERE learner_id = ? AND direction = 'out' ORDER BY id DESC LIMIT ?""",
        (learner_id, limit),
    ).fetchall()


def messages_after(conn: sqlite3.Connection, learner_id: int, after_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT id, direction, body, kind, status, created_at FROM messages WHERE learner_id = ? AND id > ? "
        "ORDER BY id LIMIT ?",
        (learner_id, after_id, limit),
    ).fetchall()


def outbox_rows(conn: sqlite3.Connection, statuses: tuple[str, ...], limit: int = 100) -> list[sqlite3.Row]:
    marks = ",".join("?" * len(statuses))
    return conn.execute(
        f"""SELECT m.id, m.learner_id, m.body, m.kind, m.template_key, m.status, m.attempts, m.error_code, m.error_message,
                   m.created_at, m.next_attempt_at, l.name, l.profile_name, l.phone
            FROM messages m LEFT JOIN learners l ON l.id = m.learner_id
            WHERE m.direction = 'out' AND m.status IN ({marks}) ORDER BY m.id DESC LIMIT ?""",
        (*statuses, limit),
    ).fetchall()


def retry(conn: sqlite3.Connection, message_ids: list[int], now: datetime) -> int:
    """Queue failed/undelivered/waiting rows again through the outbox's own rule (a look-up before any resend)."""
    return sum(retry_message(conn, message_id, now) for message_id in message_ids)


# -- Meta's pricing on its status webhooks (channels/meta/status.py; migration 0018) --------------------------------
def record_pricing(
    conn: sqlite3.Connection,
    message_id: int | None,
    sid: str,
    *,
    category: str | None,
    billable: bool | None,
    model: str | None,
    pricing_type: str | None,
    conversation_type: str | None,
) -> None:
    """Keep what a status says the message costs (later statuses refine, never blank, what an earlier one said)."""
    conn.execute(
        """UPDATE messages SET pricing_category = COALESCE(:category, pricing_category),
                  pricing_billable = COALESCE(:billable, pricing_billable),
                  pricing_model = COALESCE(:model, pricing_model), pricing_type = COALESCE(:ptype, pricing_type),
                  conversation_type = COALESCE(:ctype, conversation_type)
           WHERE direction = 'out' AND (provider_sid = :sid OR (:id IS NOT NULL AND id = :id AND provider_sid IS NULL))""",
        {
            "category": category,
            "billable": None if billable is None else int(billable),
            "model": model,
            "ptype": pricing_type,
            "ctype": conversation_type,
            "sid": sid,
            "id": message_id,
        },
    )
