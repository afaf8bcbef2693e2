"""Test data for certificates and the tutor: the sample content imported, learners, finished courses."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def content_copy(tmp_path: Path) -> Path:
    """The repo's content/ (courses, badges, locales) copied to tmp, so tests never touch the real folder.

    Locale files the courses need but the repo does not have yet are stood in by en.toml, so the importer's
    check (every course language has a locale file) passes while translations are being written.
    """
    target = tmp_path / "content"
    shutil.copytree(REPO / "content", target)
    locales = target / "locales"
    for course in (target / "courses").glob("*/course.toml"):
        language = next(
            (
                line.split("=", 1)[1].strip().strip('"')
                for line in course.read_text().splitlines()
                if line.startswith("language")
            ),
            "en",
        )
        if not (locales / f"{language}.toml").exists():
            shutil.copy(locales / "en.toml", locales / f"{language}.toml")
    return target


def import_content(conn: sqlite3.Connection, settings) -> dict[str, int]:
    """Import the content folder; returns course ids by slug."""
    from coachbox.content.importer import import_folder

    import_folder(conn, settings.content_dir, settings)
    return {row["slug"]: row["id"] for row in conn.execute("SELECT id, slug FROM courses")}


def add_learner(
    conn: sqlite3.Connection,
    *,
    name: str | None = "Amina Wanjiru",
    language: str = "en",
    phone: str = "+254700000001",
    course_id: int | None = None,
    timezone: str = "Africa/Nairobi",
    profile_name: str | None = None,
) -> int:
    now = "2026-03-01T05:00:00+00:00"
    return conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, profile_name, language, timezone, status,
                                 current_course_id, last_inbound_at, created_at, updated_at)
           VALUES (?, 'whatsapp', ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)""",
        (f"whatsapp:{phone}", phone, name, profile_name, language, timezone, course_id, now, now, now),
    ).lastrowid


def finish_course(
    conn: sqlite3.Connection, learner_id: int, course_id: int, *, score: int | None, status: str = "completed"
) -> None:
    conn.execute(
        """INSERT INTO enrollments (learner_id, course_id, status, started_at, completed_at, score)
           VALUES (?, ?, ?, '2026-02-20T05:00:00+00:00', ?, ?)
           ON CONFLICT (learner_id, course_id) DO UPDATE SET status = excluded.status, score = excluded.score""",
        (learner_id, course_id, status, "2026-03-02T04:00:00+00:00" if status == "completed" else None, score),
    )


def outbox(conn: sqlite3.Connection, learner_id: int, kind: str | None = None) -> list[sqlite3.Row]:
    sql, args = "SELECT * FROM messages WHERE direction = 'out' AND learner_id = ?", [learner_id]
    if kind:
        sql += " AND kind = ?"
        args.append(kind)
    return conn.execute(sql + " ORDER BY id", args).fetchall()
