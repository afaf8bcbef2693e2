"""Queries for payments, subscriptions, provider events and the review queue (amounts in integer minor units)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from coachbox.store import inserted_id

PROVIDERS = ("mpesa", "stripe", "manual")
STATUSES = ("new", "pending", "paid", "failed", "cancelled", "refunded")


def _iso(when: datetime) -> str:
    return when.isoformat()


# -- plan snapshots ------------------------------------------------------------------------------


def snapshot_plan(conn: sqlite3.Connection, name: str, definition: dict, now: datetime) -> int:
    """The id of this exact plan definition, stored once (a changed price is a new snapshot)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{name}\n{text}".encode()).hexdigest()
    conn.execute(
        "INSERT INTO plan_snapshots (name, digest, definition, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (digest) DO NOTHING",
        (name, digest, text, _iso(now)),
    )
    return conn.execute("SELECT id FROM plan_snapshots WHERE digest = ?", (digest,)).fetchone()[0]


# -- payments ------------------------------------------------------------------------------------


def create_payment(
    conn: sqlite3.Connection,
    *,
    learner_id: int | None,
    plan: str,
    plan_snapshot_id: int | None,
    provider: str,
    amount_minor: int,
    currency: str,
    period_days: int,
    now: datetime,
    status: str = "new",
    phone: str | None = None,
    provider_ref: str | None = None,
    receipt: str | None = None,
    note: str | None = None,
    admin_id: int | None = None,
) -> int | None:
    """Insert a payment; None when (provider, provider_ref) is already recorded (a replayed provider event)."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amount_minor must be an int (minor units)")
    stamp = _iso(now)
    cursor = conn.execute(
        """INSERT INTO payments (learner_id, plan, plan_snapshot_id, provider, amount_minor, currency, phone, status,
                                 provider_ref, receipt, period_days, note, admin_id, created_at, updated_at, paid_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (provider, provider_ref) DO NOTHING""",
        (
            learner_id,
            plan,
            plan_snapshot_id,
            provider,
            amount_minor,
            currency,
            phone,
            status,
            provider_ref,
            receipt,
            period_days,
            note,
            admin_id,
            stamp,
            stamp,
            stamp if status == "paid" else None,
        ),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def payment(conn: sqlite3.Connection, payment_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()


def payment_by_ref(conn: sqlite3.Connection, provider: str, provider_ref: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM payments WHERE provider = ? AND provider_ref = ?", (provider, provider_ref)
    ).fetchone()


def mark_pending(
    conn: sqlite3.Connection,
    payment_id: int,
    *,
    checkout_request_id: str,
    merchant_request_id: str,
    next_query_at: datetime,
    now: datetime,
) -> bool:
    """Daraja accepted the STK push: remember its CheckoutRequestID (the callback's key) and when to query."""
    cursor = conn.execute(
        """UPDATE payments SET status = 'pending', provider_ref = ?, merchant_request_id = ?, next_query_at = ?,
                               updated_at = ?
           WHERE id = ? AND status = 'new'""",
        (checkout_request_id, merchant_request_id, _iso(next_query_at), _iso(now), payment_id),
    )
    return cursor.rowcount == 1


def settle(
    conn: sqlite3.Connection,
    payment_id: int,
    status: str,
    *,
    now: datetime,
    result_code: str | None = None,
    result_desc: str | None = None,
    receipt: str | None = None,
    subscription_id: int | None = None,
) -> bool:
    """pending/new → paid|failed|cancelled, once: compare-and-set, so a replay or a racing query changes nothing."""
    stamp = _iso(now)
    cursor = conn.execute(
        """UPDATE payments SET status = ?, result_code = ?, result_desc = ?, receipt = COALESCE(?, receipt),
                               subscription_id = COALESCE(?, subscription_id), next_query_at = NULL,
                               paid_at = CASE WHEN ? = 'paid' THEN ? ELSE paid_at END, updated_at = ?
           WHERE id = ? AND status IN ('new', 'pending')""",
        (
            status,
            result_code,
            (result_desc or "")[:300] or None,
            receipt,
            subscription_id,
            status,
            stamp,
            stamp,
            payment_id,
        ),
    )
    return cursor.rowcount == 1


def link_subscription(conn: sqlite3.Connection, payment_id: int, subscription_id: int) -> None:
    conn.execute("UPDATE payments SET subscription_id = ? WHERE id = ?", (subscription_id, payment_id))


def due_queries(conn: sqlite3.Connection, now: datetime, *, limit: int = 50) -> list[sqlite3.Row]:
    """M-PESA payments still pending whose callback is overdue (the worker asks Daraja about them)."""
    return conn.execute(
        """SELECT * FROM payments WHERE provider = 'mpesa' AND status = 'pending' AND next_query_at <= ?
           ORDER BY next_query_at LIMIT ?""",
        (_iso(now), limit),
    ).fetchall()


def claim_query(conn: sqlite3.Connection, payment_id: int, next_query_at: datetime, now: datetime) -> bool:
    """Push the next query time forward before asking Daraja, so two workers never query one payment at once."""
    cursor = conn.execute(
        """UPDATE payments SET query_attempts = query_attempts + 1, next_query_at = ?, updated_at = ?
           WHERE id = ? AND status = 'pending' AND next_query_at <= ?""",
        (_iso(next_query_at), _iso(now), payment_id, _iso(now)),
    )
    return cursor.rowcount == 1


def query_soon(conn: sqlite3.Connection, payment_id: int, now: datetime) -> None:
    """A callback Daraja could not confirm yet: the worker's next sweep asks again (status stays pending)."""
    conn.execute(
        "UPDATE payments SET next_query_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
        (_iso(now), _iso(now), payment_id),
    )


def unstarted(conn: sqlite3.Connection, now: datetime, *, limit: int = 50) -> list[sqlite3.Row]:
    """M-PESA payments written by a chat turn whose STK push has not run (a lost task) or may be retried."""
    return conn.execute(
        "SELECT * FROM payments WHERE provider = 'mpesa' AND status = 'new' "
        "AND (next_query_at IS NULL OR next_query_at <= ?) ORDER BY id LIMIT ?",
        (_iso(now), limit),
    ).fetchall()


def claim_push(conn: sqlite3.Connection, payment_id: int, lease_until: datetime, now: datetime) -> bool:
    """Lease a 'new' payment for one STK push: the task and the sweep never prompt the phone twice."""
    cursor = conn.execute(
        """UPDATE payments SET next_query_at = ?, updated_at = ?
           WHERE id = ? AND status = 'new' AND (next_query_at IS NULL OR next_query_at <= ?)""",
        (_iso(lease_until), _iso(now), payment_id, _iso(now)),
    )
    return cursor.rowcount == 1


def mark_refunded(conn: sqlite3.Connection, payment_id: int, *, note: str, admin_id: int | None, now: datetime) -> bool:
    """A refund made outside coachbox (M-PESA reversal, Stripe dashboard), recorded here; access is not touched."""
    stamp = _iso(now)
    cursor = conn.execute(
        """UPDATE payments SET status = 'refunded', refunded_at = ?, note = ?, admin_id = ?, updated_at = ?
           WHERE id = ? AND status = 'paid'""",
        (stamp, note[:500], admin_id, stamp, payment_id),
    )
    return cursor.rowcount == 1


# -- provider events and reviews -----------------------------------------------------------------


def record_event(
    conn: sqlite3.Connection,
    provider: str,
    event_id: str,
    kind: str,
    payload: str,
    now: datetime,
    *,
    outcome: str,
    payment_id: int | None = None,
) -> bool:
    """True the first time this provider event id is seen; False for a replay (nothing else must change)."""
    cursor = conn.execute(
        """INSERT INTO payment_events (provider, event_id, kind, payment_id, outcome, payload, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING""",
        (provider, event_id, kind, payment_id, outcome, payload, _iso(now)),
    )
    return cursor.rowcount == 1


def set_event_outcome(
    conn: sqlite3.Connection, provider: str, event_id: str, outcome: str, payment_id: int | None = None
) -> None:
    conn.execute(
        "UPDATE payment_events SET outcome = ?, payment_id = COALESCE(?, payment_id) "
        "WHERE provider = ? AND event_id = ?",
        (outcome, payment_id, provider, event_id),
    )


def event_outcome(conn: sqlite3.Connection, provider: str, event_id: str) -> str | None:
    row = conn.execute(
        "SELECT outcome FROM payment_events WHERE provider = ? AND event_id = ?", (provider, event_id)
    ).fetchone()
    return row[0] if row else None


def record_review(
    conn: sqlite3.Connection,
    provider: str,
    reason: str,
    payload: str,
    now: datetime,
    *,
    reference: str | None = None,
    payment_id: int | None = None,
    remote_addr: str | None = None,
) -> bool:
    """Keep a callback that must not grant anything for a person to look at; a replay adds no row."""
    fingerprint = hashlib.sha256(f"{provider}\n{reason}\n{reference}\n{payload}".encode()).hexdigest()
    cursor = conn.execute(
        """INSERT INTO payment_reviews (provider, reason, reference, payment_id, fingerprint, payload, remote_addr,
                                        created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING""",
        (provider, reason, reference, payment_id, fingerprint, payload[:20_000], remote_addr, _iso(now)),
    )
    return cursor.rowcount == 1


def resolve_review(
    conn: sqlite3.Connection, review_id: int, *, resolution: str, admin_id: int | None, now: datetime
) -> bool:
    cursor = conn.execute(
        "UPDATE payment_reviews SET resolved_at = ?, resolved_by = ?, resolution = ? "
        "WHERE id = ? AND resolved_at IS NULL",
        (_iso(now), admin_id, resolution[:500], review_id),
    )
    return cursor.rowcount == 1


def resolve_reviews_for(
    conn: sqlite3.Connection, provider: str, reference: str, reasons: frozenset[str], *, now: datetime, resolution: str
) -> int:
    """Close the open reviews a later delivery settled by itself (admin_id NULL: no person did it)."""
    marks = ", ".join("?" * len(reasons))
    cursor = conn.execute(
        f"""UPDATE payment_reviews SET resolved_at = ?, resolution = ?
            WHERE provider = ? AND reference = ? AND resolved_at IS NULL AND reason IN ({marks})""",
        (_iso(now), resolution[:500], provider, reference, *sorted(reasons)),
    )
    return cursor.rowcount


def open_reviews(conn: sqlite3.Connection, *, limit: int = 100) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM payment_reviews WHERE resolved_at IS NULL ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()


# -- subscriptions -------------------------------------------------------------------------------


def subscription(conn: sqlite3.Connection, subscription_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()


def subscription_by_ref(conn: sqlite3.Connection, provider: str, ref: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM subscriptions WHERE provider = ? AND provider_ref = ?", (provider, ref)
    ).fetchone()


def prepaid_subscription(conn: sqlite3.Connection, learner_id: int, plan: str) -> sqlite3.Row | None:
    """The learner's M-PESA/manual subscription to this plan that a new payment extends (not ended)."""
    return conn.execute(
        """SELECT * FROM subscriptions WHERE learner_id = ? AND plan = ? AND provider IN ('mpesa', 'manual')
           AND status != 'ended' ORDER BY id DESC LIMIT 1""",
        (learner_id, plan),
    ).fetchone()


def insert_subscription(
    conn: sqlite3.Connection,
    *,
    learner_id: int,
    plan: str,
    plan_snapshot_id: int | None,
    provider: str,
    provider_ref: str | None,
    courses: str,
    status: str,
    period_end: datetime,
    access_until: datetime,
    now: datetime,
    status_event_at: int = 0,
) -> int:
    stamp = _iso(now)
    cursor = conn.execute(
        """INSERT INTO subscriptions (learner_id, plan, plan_snapshot_id, provider, provider_ref, courses, status,
                                      current_period_end, access_until, status_event_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            learner_id,
            plan,
            plan_snapshot_id,
            provider,
            provider_ref,
            courses,
            status,
            _iso(period_end),
            _iso(access_until),
            status_event_at,
            stamp,
            stamp,
        ),
    )
    return inserted_id(cursor)


def update_subscription(conn: sqlite3.Connection, subscription_id: int, now: datetime, **changes: object) -> None:
    allowed = {
        "plan",
        "plan_snapshot_id",
        "provider",
        "courses",
        "status",
        "current_period_end",
        "access_until",
        "cancel_at_period_end",
        "status_event_at",
        "ended_at",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not a subscription column: {sorted(unknown)}")
    values = {k: _iso(v) if isinstance(v, datetime) else v for k, v in changes.items()}
    assignments = ", ".join(f"{k} = ?" for k in values)
    conn.execute(
        f"UPDATE subscriptions SET {assignments}, updated_at = ? WHERE id = ?",
        (*values.values(), _iso(now), subscription_id),
    )


def live_subscriptions(conn: sqlite3.Connection, learner_id: int, now: datetime) -> list[sqlite3.Row]:
    """Subscriptions that give access right now (paid period plus grace, not ended)."""
    return conn.execute(
        """SELECT * FROM subscriptions WHERE learner_id = ? AND status != 'ended' AND access_until > ?
           ORDER BY access_until DESC""",
        (learner_id, _iso(now)),
    ).fetchall()


def ending_between(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[sqlite3.Row]:
    """Subscriptions that will not renew by themselves and whose paid period ends in [start, end)."""
    return conn.execute(
        """SELECT * FROM subscriptions WHERE status IN ('active', 'past_due')
           AND (provider != 'stripe' OR cancel_at_period_end = 1)
           AND current_period_end >= ? AND current_period_end < ?""",
        (_iso(start), _iso(end)),
    ).fetchall()


def lapsed(conn: sqlite3.Connection, now: datetime, *, limit: int = 500) -> list[sqlite3.Row]:
    """Subscriptions whose access (grace included) is over but that are not marked ended yet."""
    return conn.execute(
        "SELECT * FROM subscriptions WHERE status != 'ended' AND access_until <= ? LIMIT ?", (_iso(now), limit)
    ).fetchall()


def learner_contact(conn: sqlite3.Connection, learner_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT id, channel, channel_key, phone, language, status, opted_out, last_inbound_at "
        "FROM learners WHERE id = ? AND status != 'deleted'",
        (learner_id,),
    ).fetchone()


def learner_by_phone(conn: sqlite3.Connection, phone: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT id FROM learners WHERE phone = ? AND status != 'deleted' ORDER BY id LIMIT 1", (phone,)
    ).fetchone()


# -- the admin list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilter:
    provider: str = ""
    status: str = ""
    q: str = ""  # phone, receipt, reference or learner name
    since: str = ""  # YYYY-MM-DD (UTC)
    until: str = ""  # YYYY-MM-DD (UTC), inclusive
    # Instead of since/until: the UTC instants a local day range starts and ends at (ISO; `before` exclusive).
    after: str = ""
    before: str = ""
    page: int = 1
    per_page: int = 50
    # Whose payments the reader may see (admin.scope's .sql("p.learner_id")): "1" is everyone.
    scope: tuple[str, list] = ("1", [])


def _where(f: PaymentFilter) -> tuple[str, list]:
    clauses, args = ([f"({f.scope[0]})"], [*f.scope[1]]) if f.scope[0] != "1" else ([], [])
    if f.provider in PROVIDERS:
        clauses.append("p.provider = ?")
        args.append(f.provider)
    if f.status in STATUSES:
        clauses.append("p.status = ?")
        args.append(f.status)
    if f.q:
        like = f"%{f.q}%"
        clauses.append(
            "(p.phone LIKE ? OR p.receipt LIKE ? OR p.provider_ref LIKE ? OR l.name LIKE ? OR l.phone LIKE ?)"
        )
        args += [like] * 5
    if f.after or f.since:
        clauses.append("p.created_at >= ?")
        args.append(f.after or f.since)
    if f.before:
        clauses.append("p.created_at < ?")
        args.append(f.before)
    elif f.until:
        clauses.append("p.created_at < ?")
        args.append(f.until + "T99")  # every time on that date sorts before 'T99'
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def search_payments(conn: sqlite3.Connection, f: PaymentFilter) -> tuple[list[sqlite3.Row], int, dict[str, int]]:
    """(rows of this page, total rows, paid totals per currency in minor units) for the filter."""
    where, args = _where(f)
    base = f"FROM payments p LEFT JOIN learners l ON l.id = p.learner_id{where}"
    total = conn.execute(f"SELECT count(*) {base}", args).fetchone()[0]
    sums = {
        row[0]: row[1]
        for row in conn.execute(
            f"SELECT p.currency, sum(p.amount_minor) {base}{' AND' if where else ' WHERE'} p.status = 'paid' "
            "GROUP BY p.currency ORDER BY p.currency",
            args,
        )
    }
    rows = conn.execute(
        f"""SELECT p.*, l.name AS learner_name, l.profile_name AS learner_profile, l.phone AS learner_phone {base}
            ORDER BY p.id DESC LIMIT ? OFFSET ?""",
        (*args, f.per_page, (max(f.page, 1) - 1) * f.per_page),
    ).fetchall()
    return rows, total, sums


def recent_problem(conn: sqlite3.Connection, learner_id: int, since: datetime) -> sqlite3.Row | None:
    """The learner's latest payment trouble since then, for a teacher (store.handover, reason payment): a failed
    M-PESA payment (id, status 'failed', amount, currency) or else a card subscription past due (id NULL)."""
    failed = conn.execute(
        """SELECT id, status, amount_minor, currency, result_desc FROM payments
           WHERE learner_id = ? AND status = 'failed' AND updated_at >= ? ORDER BY id DESC LIMIT 1""",
        (learner_id, _iso(since)),
    ).fetchone()
    if failed is not None:
        return failed
    return conn.execute(
        """SELECT NULL AS id, 'past_due' AS status, NULL AS amount_minor, NULL AS currency, plan AS result_desc
           FROM subscriptions WHERE learner_id = ? AND status = 'past_due' AND updated_at >= ?
           ORDER BY id DESC LIMIT 1""",
        (learner_id, _iso(since)),
    ).fetchone()
