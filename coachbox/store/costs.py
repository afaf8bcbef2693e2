"""Cost ledger queries on the messages table: month and day roll-ups of estimated and actual costs (micros)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from coachbox.store.messages import BUDGET

# -- the Costs page (admin/costs.py) -------------------------------------------------------------------------------
# Every figure is in micros (millionths of a US dollar). "cost" is the best figure we have for a message: the
# provider's price when it told us (cost_actual_micros), else our estimate. Rows without an estimate (the
# simulator, messages from before the ledger) count as messages but cost nothing. A period is a half-open range of
# stored ISO-8601 UTC instants [start, stop), the org's local midnights turned into UTC by the caller.

_FIGURES = """COUNT(*) AS messages,
       SUM(m.cost_estimate_micros IS NOT NULL) AS costed,
       COALESCE(SUM(COALESCE(m.cost_actual_micros, m.cost_estimate_micros)), 0) AS cost,
       COALESCE(SUM(m.cost_estimate_micros), 0) AS estimate,
       SUM(m.cost_actual_micros IS NOT NULL) AS with_actual,
       COALESCE(SUM(m.cost_actual_micros), 0) AS actual,
       COALESCE(SUM(CASE WHEN m.cost_actual_micros IS NOT NULL THEN m.cost_estimate_micros END), 0)
           AS estimate_of_actual,
       SUM(m.direction = 'out') AS sent,
       SUM(m.direction = 'in') AS received"""

# What a row of a breakdown is grouped by; the SQL is ours, never a request's.
DIMENSIONS = {
    "kind": "CASE WHEN m.direction = 'in' THEN 'inbound' ELSE m.kind END",
    "category": "COALESCE(m.cost_category, CASE WHEN m.direction = 'in' THEN 'free' END)",
    "course": "c.title",
    "class": "l.cohort",
    "channel": "m.channel",
    "market": "m.market",
}


def _figures(row: sqlite3.Row | None) -> dict:
    keys = ("messages", "costed", "cost", "estimate", "with_actual", "actual", "estimate_of_actual", "sent", "received")
    return {key: int((row[key] if row is not None else 0) or 0) for key in keys}


def no_figures() -> dict:
    """The figures of a period without messages (every count and sum 0)."""
    return _figures(None)


def period_figures(conn: sqlite3.Connection, start: str, stop: str) -> dict:
    """Messages and their costs in [start, stop): counts, best cost, estimate, and the actual-vs-estimate pair over
    the messages the provider priced."""
    row = conn.execute(
        f"SELECT {_FIGURES} FROM messages m WHERE m.created_at >= ? AND m.created_at < ?", (start, stop)
    ).fetchone()
    return _figures(row)


def costed_since(conn: sqlite3.Connection, start: str, stop: str) -> int:
    """The best cost of the messages in [start, stop) (the forecast's run-rate), on the costed-rows index."""
    row = conn.execute(
        "SELECT COALESCE(SUM(COALESCE(cost_actual_micros, cost_estimate_micros)), 0) FROM messages "
        "WHERE created_at >= ? AND created_at < ? AND cost_estimate_micros IS NOT NULL",
        (start, stop),
    ).fetchone()
    return int(row[0])


def breakdowns(conn: sqlite3.Connection, start: str, stop: str, dimensions: Sequence[str]) -> dict[str, list[dict]]:
    """The period's figures per kind, category, course (the learner's current course), class (learners.cohort),
    channel or market, most expensive first (`label` None for messages without one: no class, no course), for
    several dimensions in ONE scan (grouped by all of them, then summed per dimension here): a month of 1,000
    learners is 270,000 rows, and a scan per dimension took five times as long."""
    columns = [DIMENSIONS[d] for d in dimensions]
    rows = conn.execute(
        f"""SELECT {", ".join(f"{c} AS d{i}" for i, c in enumerate(columns))}, {_FIGURES}
            FROM messages m LEFT JOIN learners l ON l.id = m.learner_id
            LEFT JOIN courses c ON c.id = l.current_course_id
            WHERE m.created_at >= ? AND m.created_at < ?
            GROUP BY {", ".join(str(i + 1) for i in range(len(columns)))}""",
        (start, stop),
    ).fetchall()
    return _group(rows, dimensions)


def _group(rows: list[sqlite3.Row], dimensions: Sequence[str]) -> dict[str, list[dict]]:
    """Rows grouped by every dimension at once, summed per dimension, most expensive first."""
    out: dict[str, list[dict]] = {}
    for i, dimension in enumerate(dimensions):
        sums: dict[str | None, dict] = {}
        for row in rows:
            figures = _figures(row)
            into = sums.setdefault(row[f"d{i}"], no_figures())
            for key, value in figures.items():
                into[key] += value
        ordered = sorted(sums.items(), key=lambda item: (-item[1]["cost"], -item[1]["messages"], item[0] or ""))
        out[dimension] = [{"label": label, **figures} for label, figures in ordered]
    return out


def by_day(conn: sqlite3.Connection, days: Sequence[tuple[str, str, str]]) -> dict[str, dict]:
    """Figures per local day: `days` is (day, start, stop) with the day's bounds in UTC, so a day follows the org's
    time zone (and its daylight-saving changes), not UTC. Days without messages are left out."""
    if not days:
        return {}
    values = ", ".join("(?, ?, ?)" for _ in days)
    rows = conn.execute(
        f"""WITH days(day, start, stop) AS (VALUES {values})
            SELECT d.day AS day, {_FIGURES}
            FROM days d JOIN messages m ON m.created_at >= d.start AND m.created_at < d.stop
            GROUP BY d.day""",
        [value for day in days for value in day],
    ).fetchall()
    return {row["day"]: _figures(row) for row in rows}


# -- the same figures from cost_totals (migration 0028): a few thousand rows a month instead of every message ---------
# Rows are UTC hours ('YYYY-MM-DDTHH'), so they add up to any period whose bounds are on the hour (every local day
# of a zone a whole number of hours from UTC); `on_the_hour` says whether the kept totals can answer a period.
_KEPT = """COALESCE(SUM(t.messages), 0) AS messages, COALESCE(SUM(t.costed), 0) AS costed,
       COALESCE(SUM(t.cost), 0) AS cost, COALESCE(SUM(t.estimate), 0) AS estimate,
       COALESCE(SUM(t.with_actual), 0) AS with_actual, COALESCE(SUM(t.actual), 0) AS actual,
       COALESCE(SUM(t.estimate_of_actual), 0) AS estimate_of_actual,
       COALESCE(SUM(CASE WHEN t.direction = 'out' THEN t.messages END), 0) AS sent,
       COALESCE(SUM(CASE WHEN t.direction = 'in' THEN t.messages END), 0) AS received"""

# The same dimensions as DIMENSIONS, on cost_totals: course and class are the learner's AT SEND TIME.
KEPT_DIMENSIONS = {
    "kind": "CASE WHEN t.direction = 'in' THEN 'inbound' ELSE t.kind END",
    "category": "COALESCE(NULLIF(t.category, ''), CASE WHEN t.direction = 'in' THEN 'free' END)",
    "course": "c.title",
    "class": "NULLIF(t.class, '')",
    "channel": "t.channel",
}


def _hour(instant: str) -> str:
    return instant[:13]


def on_the_hour(*instants: str) -> bool:
    """Whether every instant (stored ISO text, UTC) is a whole hour: then cost_totals' hours add up to the period."""
    for instant in instants:
        moment = datetime.fromisoformat(instant)
        if moment.utcoffset() or (moment.minute, moment.second, moment.microsecond) != (0, 0, 0):
            return False
    return True


def kept_breakdowns(
    conn: sqlite3.Connection, start: str, stop: str, dimensions: Sequence[str]
) -> dict[str, list[dict]]:
    """`breakdowns` from cost_totals, for a period on the hour; course and class as they were at send time."""
    columns = [KEPT_DIMENSIONS[d] for d in dimensions]
    rows = conn.execute(
        f"""SELECT {", ".join(f"{c} AS d{i}" for i, c in enumerate(columns))}, {_KEPT}
            FROM cost_totals t LEFT JOIN courses c ON c.id = t.course_id
            WHERE t.hour >= ? AND t.hour < ?
            GROUP BY {", ".join(str(i + 1) for i in range(len(columns)))}""",
        (_hour(start), _hour(stop)),
    ).fetchall()
    return _group(rows, dimensions)


def kept_by_day(conn: sqlite3.Connection, days: Sequence[tuple[str, str, str]]) -> dict[str, dict]:
    """`by_day` from cost_totals, for days whose bounds are on the hour."""
    if not days:
        return {}
    values = ", ".join("(?, ?, ?)" for _ in days)
    rows = conn.execute(
        f"""WITH days(day, start, stop) AS (VALUES {values})
            SELECT d.day AS day, {_KEPT}
            FROM days d JOIN cost_totals t ON t.hour >= d.start AND t.hour < d.stop
            GROUP BY d.day""",
        [value for day, start, stop in days for value in (day, _hour(start), _hour(stop))],
    ).fetchall()
    return {row["day"]: _figures(row) for row in rows}


def kept_costed_since(conn: sqlite3.Connection, start: str, stop: str) -> int:
    """`costed_since` from cost_totals for the whole hours of [start, stop), and from the messages (on the costed-rows
    index) for the part-hours at either end."""
    first, last = _hour(start), _hour(stop)
    if first == last:
        return costed_since(conn, start, stop)
    after_first = (datetime.fromisoformat(first + ":00:00+00:00") + timedelta(hours=1)).isoformat()
    row = conn.execute(
        "SELECT COALESCE(SUM(cost), 0) FROM cost_totals WHERE hour >= ? AND hour < ?", (_hour(after_first), last)
    ).fetchone()
    return int(row[0]) + costed_since(conn, start, after_first) + costed_since(conn, last + ":00:00+00:00", stop)


def active_learners(conn: sqlite3.Connection, start: str, stop: str) -> int:
    """Learners who wrote at least once in [start, stop): the "active learner" the cost per learner divides by."""
    row = conn.execute(
        "SELECT COUNT(DISTINCT learner_id) FROM messages "
        "WHERE direction = 'in' AND learner_id IS NOT NULL AND created_at >= ? AND created_at < ?",
        (start, stop),
    ).fetchone()
    return int(row[0])


def kept_active_learners(conn: sqlite3.Connection, start: str, stop: str) -> int:
    """`active_learners` from active_months (migration 0028). Each row holds a learner's first and last message of
    one UTC month, so "first_in < stop and last_in >= start" is exact for every row but one that holds both start
    and stop (a message before start and one after stop, none between, would pass): that needs both in one UTC
    month, so such a period (never a local month: it overlaps two) is counted from the messages."""
    if start[:7] == stop[:7]:
        return active_learners(conn, start, stop)
    row = conn.execute(
        "SELECT COUNT(DISTINCT learner_id) FROM active_months "
        "WHERE month >= ? AND month <= ? AND first_in < ? AND last_in >= ?",
        (start[:7], stop[:7], stop, start),
    ).fetchone()
    return int(row[0])


def held_for_budget(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbound messages the monthly budget holds now ({kind: count}): queued with the budget's code."""
    rows = conn.execute(
        "SELECT kind, COUNT(*) AS n FROM messages WHERE direction = 'out' AND status IN ('queued', 'retry') "
        "AND error_code = ? GROUP BY kind ORDER BY n DESC, kind",
        (BUDGET,),
    ).fetchall()
    return {row["kind"]: int(row["n"]) for row in rows}


def first_message_at(conn: sqlite3.Connection) -> str | None:
    """When the first message was stored (the month picker starts there), None on day one."""
    row = conn.execute("SELECT MIN(created_at) FROM messages").fetchone()
    return row[0] if row else None


# -- the ledger's own reads and writes (channels/costs.py: budget, actual prices) -------------------------------------
def spent_between(conn: sqlite3.Connection, start: str, stop: str) -> int:
    """Best cost (actual where known, else estimate) of the messages in [start, stop): the budget's month to date,
    from the kept hourly totals (migration 0028) and the messages of the part-hours at either end."""
    return kept_costed_since(conn, start, stop)


# Twilio's final statuses; a row left 'sent' (no delivery receipt ever came) counts as final after a day.
PRICED_STATUSES = ("delivered", "read", "undelivered", "failed")


def unpriced_twilio(
    conn: sqlite3.Connection,
    *,
    settled_before: str,
    stale_sent_before: str,
    checked_before: str,
    since: str,
    limit: int,
) -> list[sqlite3.Row]:
    """Outbound Twilio rows to ask Twilio's price for: a final status reached before `settled_before` (Twilio fills
    the price in minutes after), no actual yet, not asked since `checked_before`, updated after `since` (rows
    Twilio never priced are given up on). Oldest first."""
    marks = ", ".join("?" * len(PRICED_STATUSES))
    return conn.execute(
        f"""SELECT id, provider_sid, market, cost_category FROM messages
            WHERE direction = 'out' AND cost_actual_micros IS NULL AND provider_sid IS NOT NULL
              AND channel != 'simulator' AND cost_estimate_micros IS NOT NULL
              AND updated_at > ? AND (cost_checked_at IS NULL OR cost_checked_at < ?)
              AND ((status IN ({marks}) AND updated_at < ?) OR (status = 'sent' AND updated_at < ?))
            ORDER BY updated_at LIMIT ?""",
        (since, checked_before, *PRICED_STATUSES, settled_before, stale_sent_before, limit),
    ).fetchall()


def meta_priced(conn: sqlite3.Connection, *, since: str, limit: int) -> list[sqlite3.Row]:
    """Outbound rows Meta's status webhooks priced (pricing_category / pricing_billable) without an actual yet."""
    return conn.execute(
        """SELECT id, market, cost_category, pricing_category, pricing_billable FROM messages
           WHERE direction = 'out' AND cost_actual_micros IS NULL AND cost_estimate_micros IS NOT NULL
             AND (pricing_category IS NOT NULL OR pricing_billable IS NOT NULL) AND updated_at > ?
           ORDER BY id LIMIT ?""",
        (since, limit),
    ).fetchall()


def record_actual(conn: sqlite3.Connection, message_id: int, micros: int | None, now: str) -> None:
    """The provider's figure for one message (None: asked, not known yet; asked again later)."""
    conn.execute(
        "UPDATE messages SET cost_actual_micros = COALESCE(?, cost_actual_micros), cost_checked_at = ? WHERE id = ?",
        (micros, now, message_id),
    )


def uncosted_sent(conn: sqlite3.Connection, *, since: str, limit: int) -> list[sqlite3.Row]:
    """WhatsApp rows that reached the provider without an estimate: found by a look-up after a lost answer or a
    crashed sender's reconcile (the send itself writes the estimate)."""
    return conn.execute(
        """SELECT id, channel, address, kind, template_key, content_sid, use_template FROM messages
           WHERE direction = 'out' AND channel = 'whatsapp' AND provider_sid IS NOT NULL
             AND cost_estimate_micros IS NULL AND created_at > ?
           ORDER BY id LIMIT ?""",
        (since, limit),
    ).fetchall()


def record_estimate(conn: sqlite3.Connection, message_id: int, market: str | None, category: str, micros: int) -> None:
    conn.execute(
        """UPDATE messages SET market = ?, cost_category = ?, cost_estimate_micros = ?
           WHERE id = ? AND cost_estimate_micros IS NULL""",
        (market, category, micros, message_id),
    )
