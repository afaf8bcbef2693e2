"""Read-only queries for the admin dashboard: live counts and the daily_stats roll-up."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta


def live_counts(conn: sqlite3.Connection, now: datetime) -> dict:
    """Numbers that must be current; each is one indexed query (no scan of the messages table)."""
    day_ago = (now - timedelta(days=1)).isoformat()
    week_ago = (now - timedelta(days=7)).isoformat()
    month_ago = (now - timedelta(days=30)).isoformat()
    one = lambda sql, *args: conn.execute(sql, args).fetchone()[0]  # noqa: E731
    counts = {
        "learners": one("SELECT COUNT(*) FROM learners WHERE status != 'deleted'"),
        "active_1d": one("SELECT COUNT(*) FROM learners WHERE last_inbound_at >= ?", day_ago),
        "active_7d": one("SELECT COUNT(*) FROM learners WHERE last_inbound_at >= ?", week_ago),
        "active_30d": one("SELECT COUNT(*) FROM learners WHERE last_inbound_at >= ?", month_ago),
        "opted_out": one("SELECT COUNT(*) FROM learners WHERE status IN ('onboarding','active','paused','finished') "
                         "AND opted_out = 1"),
        "queued": one("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status IN ('queued', 'sending')"),
        "waiting": one("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'waiting'"),
        "failed_7d": one("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status IN ('failed', 'undelivered') "
                         "AND created_at >= ?", week_ago),
    }
    return counts
