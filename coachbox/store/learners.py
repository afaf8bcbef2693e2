"""Queries for learners: find or create by channel key, the engine's snapshot, updates, opt-out and erasure.

After the engine's queries come those of the admin pages and the JSON API: search with filters and paging, one
learner's record (enrolments, badges, answers, lesson progress), course and cohort moves, the GDPR export.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from coachbox.learning.backoff import Prompts
from coachbox.learning.learner import LEARNER_FIELDS, Enrollment, LeaderRow, Learner, OpenLesson
from coachbox.learning.progress import LessonResult
from coachbox.learning.streaks import Streak
from coachbox.learning.timeparse import local_week_start
from coachbox.store import handover, progress


def find_by_key(conn: sqlite3.Connection, channel_key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM learners WHERE channel_key = ?", (channel_key,)).fetchone()


def key_for_wa_user_id(conn: sqlite3.Connection, wa_user_id: str) -> str | None:
    """The channel key of the learner Meta knows by this business-scoped user id (first met by number or not)."""
    row = conn.execute(
        "SELECT channel_key FROM learners WHERE wa_user_id = ? AND deleted_at IS NULL ORDER BY id LIMIT 1",
        (wa_user_id,),
    ).fetchone()
    return row[0] if row else None


def remember_wa_user_id(conn: sqlite3.Connection, learner_id: int, wa_user_id: str) -> None:
    """Note the learner's business-scoped user id, so a later message that carries only it finds them."""
    conn.execute(
        "UPDATE learners SET wa_user_id = ? WHERE id = ? AND wa_user_id IS NOT ?", (wa_user_id, learner_id, wa_user_id)
    )


def upsert(
    conn: sqlite3.Connection,
    *,
    channel_key: str,
    channel: str,
    phone: str | None,
    wa_id: str | None,
    profile_name: str | None,
    language: str,
    timezone: str | Callable[[], str],
    lesson_time: str,
    now: datetime,
    inbound: bool = True,
) -> tuple[int, bool]:
    """(learner id, created?) for this channel key; refreshes phone, WhatsApp id, profile name and the
    24-hour window (last_inbound_at) on every inbound message. `timezone` may be a function: it is only
    needed for a new learner, and working it out from the phone number costs a phonenumbers parse."""
    stamp = now.isoformat()
    # The returning learner (nearly every message) costs one statement: the UPDATE finds them by channel key.
    # Phone, WhatsApp id and name are rewritten only when they changed: naming a column in SET rewrites its index
    # entries even for the same value, one more page in every turn's commit (learners_phone; issue #15).
    found = conn.execute(
        """UPDATE learners SET last_inbound_at = ?, updated_at = ?
           WHERE channel_key = ? RETURNING id, phone, wa_id, profile_name""",
        (stamp, stamp, channel_key),
    ).fetchone()
    if found is not None:
        learner_id = int(found[0])
        saved = tuple(found[1:4])
        fresh = tuple(saved[n] if given is None else given for n, given in enumerate((phone, wa_id, profile_name)))
        if fresh != saved:
            conn.execute(
                "UPDATE learners SET phone = ?, wa_id = ?, profile_name = ? WHERE id = ?", (*fresh, learner_id)
            )
        return learner_id, False
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, wa_id, profile_name, language, timezone,
                                 lesson_time, last_inbound_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            channel_key,
            channel,
            phone,
            wa_id,
            profile_name,
            language,
            timezone if isinstance(timezone, str) else timezone(),
            lesson_time,
            stamp if inbound else None,
            stamp,
            stamp,
        ),
    )
    assert cursor.lastrowid is not None  # an INSERT that did not raise made a row
    return cursor.lastrowid, True


def next_turn(conn: sqlite3.Connection, learner_id: int) -> int:
    """Count a turn (inside the turn's transaction) and return the new counter."""
    return int(count_turn(conn, learner_id)["turn"])


def count_turn(conn: sqlite3.Connection, learner_id: int) -> sqlite3.Row:
    """next_turn() that also returns the learner's whole row as it now is, for snapshot(row=…): one statement
    where a turn used to read the row again right after counting."""
    return conn.execute("UPDATE learners SET turn = turn + 1 WHERE id = ? RETURNING *", (learner_id,)).fetchone()


def current_turn(conn: sqlite3.Connection, learner_id: int) -> int:
    row = conn.execute("SELECT turn FROM learners WHERE id = ?", (learner_id,)).fetchone()
    return int(row[0]) if row else 0


def snapshot(
    conn: sqlite3.Connection,
    learner_id: int,
    *,
    leaderboard: bool = False,
    now: datetime | None = None,
    row: sqlite3.Row | None = None,
    count_messages: bool = True,
) -> Learner | None:
    """Everything the engine reads about one learner, in a handful of indexed queries.
    row: the learner's row as this transaction last wrote it (count_turn()), instead of reading it again.
    count_messages=False: message_count stops at 2 (is this the first message?), for a turn that cannot show it:
    counting walks the learner's whole history (~0.1 ms at 5,000 messages)."""
    if row is None:
        row = conn.execute("SELECT * FROM learners WHERE id = ?", (learner_id,)).fetchone()
    if row is None:
        return None
    enrollments = tuple(
        Enrollment(r["course_id"], r["status"], r["next_position"])
        for r in conn.execute(
            "SELECT course_id, status, next_position FROM enrollments WHERE learner_id = ? ORDER BY id", (learner_id,)
        )
    )
    results = tuple(
        LessonResult(
            r["lesson_id"],
            r["course_id"],
            r["correct"],
            r["total"],
            bool(r["passed"]),
            r["completed_local_date"],
            progress.missed_ids(r["missed"]),
        )
        for r in conn.execute(
            """SELECT p.lesson_id, l.course_id, p.correct, p.total, p.passed, p.completed_local_date, p.missed
               FROM progress p JOIN lessons l ON l.id = p.lesson_id
               WHERE p.learner_id = ? AND p.completed_at IS NOT NULL ORDER BY p.id""",
            (learner_id,),
        )
    )
    badges = frozenset(
        r[0] for r in conn.execute("SELECT code FROM learner_badges WHERE learner_id = ?", (learner_id,))
    )
    checked_in = frozenset(  # on checkin_answers' UNIQUE (learner_id, course_id, phase, position) index
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT course_id FROM checkin_answers WHERE learner_id = ? AND phase = 'before'", (learner_id,)
        )
    )
    last = conn.execute(
        """SELECT lesson_id, quiz_started_at, completed_at, delivered_at FROM progress
           WHERE learner_id = ? AND delivered_at IS NOT NULL ORDER BY delivered_at DESC, id DESC LIMIT 1""",
        (learner_id,),
    ).fetchone()
    open_lesson = None
    if last is not None and (
        last["completed_at"] is None or (last["quiz_started_at"] or "") > (last["completed_at"] or "")
    ):
        answers: tuple[bool, ...] = ()
        if last["quiz_started_at"]:
            answers = tuple(
                bool(r[0])
                for r in conn.execute(
                    """SELECT a.correct FROM answers a JOIN questions q ON q.id = a.question_id
                   WHERE a.learner_id = ? AND q.lesson_id = ? AND a.answered_at >= ? ORDER BY a.id""",
                    (learner_id, last["lesson_id"], last["quiz_started_at"]),
                )
            )
        open_lesson = OpenLesson(last["lesson_id"], bool(last["quiz_started_at"]), answers)
    count = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE learner_id = ?"
        if count_messages
        else "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE learner_id = ? LIMIT 2)",
        (learner_id,),
    ).fetchone()[0]
    rank = _leaderboard(conn, row, now) if leaderboard and row["cohort"] and now else ()
    return Learner(
        id=row["id"],
        channel=row["channel"],
        phone=row["phone"],
        name=row["name"],
        profile_name=row["profile_name"],
        language=row["language"],
        timezone=row["timezone"],
        lesson_time=row["lesson_time"],
        status=row["status"],
        opted_out=bool(row["opted_out"]),
        current_course_id=row["current_course_id"],
        streak=Streak(row["streak"], row["best_streak"], row["streak_freezes"], row["last_active_date"]),
        next_taken_date=row["next_taken_date"],
        next_taken_count=row["next_taken_count"],
        enrollments=enrollments,
        results=results,
        badges=badges,
        checked_in=checked_in,
        last_lesson_id=last["lesson_id"] if last else None,
        open_lesson=open_lesson,
        message_count=count,
        created_at=row["created_at"],
        rank=rank,
        cohort=row["cohort"],
        last_inbound_at=row["last_inbound_at"],
        welcomed_back_on=row["welcomed_back_on"],
        held=progress.held_lessons(conn, [learner_id]).get(learner_id),
        prompts=progress.prompts(conn, {learner_id: (row["timezone"], row["last_inbound_at"])}).get(
            learner_id, Prompts()
        ),
        handover=handover.open_for_engine(conn, learner_id),
    )


def _leaderboard(conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> tuple[LeaderRow, ...]:
    """Top 5 of the learner's cohort by lessons first completed this week (from Monday 00:00 in the learner's
    time zone), plus the learner's own place when they are not in it. First names only."""
    since = local_week_start(now, row["timezone"]).astimezone(UTC).isoformat()
    ranked = conn.execute(
        """WITH scores AS (
               SELECT l.id, COALESCE(l.name, l.profile_name, '?') AS name,
                      (SELECT COUNT(*) FROM progress p WHERE p.learner_id = l.id AND p.completed_at >= ?) AS lessons
               FROM learners l WHERE l.cohort = ? AND l.status NOT IN ('deleted', 'onboarding')),
           ranked AS (SELECT id, name, lessons, RANK() OVER (ORDER BY lessons DESC) AS place,
                             ROW_NUMBER() OVER (ORDER BY lessons DESC, id) AS row_number FROM scores)
           SELECT id, name, lessons, place FROM ranked WHERE row_number <= 5 OR id = ? ORDER BY row_number""",
        (since, row["cohort"], row["id"]),
    ).fetchall()
    return tuple(
        LeaderRow((r["name"].split(" ") or ["?"])[0], r["lessons"], r["id"] == row["id"], r["place"]) for r in ranked
    )


def update(conn: sqlite3.Connection, learner_id: int, changes: dict[str, Any], now: datetime) -> None:
    unknown = set(changes) - LEARNER_FIELDS
    if unknown:
        raise ValueError(f"refusing to update learner columns {sorted(unknown)}")
    if not changes:
        return
    columns = ", ".join(f"{name} = ?" for name in changes)
    conn.execute(
        f"UPDATE learners SET {columns}, updated_at = ? WHERE id = ?", (*changes.values(), now.isoformat(), learner_id)
    )


def set_opted_out(conn: sqlite3.Connection, learner_id: int, opted_out: bool, now: datetime) -> None:
    conn.execute(
        "UPDATE learners SET opted_out = ?, updated_at = ? WHERE id = ?", (int(opted_out), now.isoformat(), learner_id)
    )


def opt_out_count(conn: sqlite3.Connection, start: str, end: str) -> int:
    """Learners who opted out in [start, end), however they did (a keyword of any language, Twilio's opt-out,
    error 21610): the learner_opt_outs trigger records each change of learners.opted_out to 1."""
    return conn.execute(
        "SELECT COUNT(DISTINCT learner_id) FROM learner_opt_outs WHERE opted_out_at >= ? AND opted_out_at < ?",
        (start, end),
    ).fetchone()[0]


def erase(conn: sqlite3.Connection, learner_id: int, now: datetime, *, keep_key: str | None = None) -> list[str]:
    """The learner's DELETE: personal data and messages go; progress, answers and badges stay, anonymous.
    The row stays as an anonymous stub so school totals (lessons, scores) do not change after an erasure.

    keep_key: the inbound message that confirmed the deletion stays as an empty tombstone, so a webhook retry
    of it is still recognised as a duplicate instead of starting a new learner with the same number.
    Returns files under data/ to remove once the transaction has committed (inbound media, certificate PDFs).
    """
    row = conn.execute("SELECT phone, wa_id, name, profile_name FROM learners WHERE id = ?", (learner_id,)).fetchone()
    files = [
        item["path"]
        for (media,) in conn.execute(
            "SELECT media FROM messages WHERE learner_id = ? AND direction = 'in' AND media != '[]'", (learner_id,)
        )
        for item in json.loads(media or "[]")
        if isinstance(item, dict) and item.get("path")
    ]
    files += [
        r[0]
        for r in conn.execute("SELECT path FROM certificates WHERE learner_id = ? AND path IS NOT NULL", (learner_id,))
    ]
    conn.execute("DELETE FROM messages WHERE learner_id = ? AND idempotency_key IS NOT ?", (learner_id, keep_key))
    conn.execute(
        """UPDATE messages SET address = 'erased:' || learner_id, body = '', media = '[]'
                    WHERE learner_id = ? AND idempotency_key IS ?""",
        (learner_id, keep_key),
    )
    conn.execute("DELETE FROM deliveries WHERE learner_id = ?", (learner_id,))
    conn.execute("DELETE FROM review_items WHERE learner_id = ?", (learner_id,))
    # The check-in's right/wrong stays for the course's learning gain; the words typed go.
    conn.execute("UPDATE checkin_answers SET given = '' WHERE learner_id = ?", (learner_id,))
    conn.execute("DELETE FROM tutor_exchanges WHERE learner_id = ?", (learner_id,))
    handover.erase_learner_handovers(conn, learner_id, now)  # the rows stay for the inbox figures, wordless
    # The certificate stays verifiable (course, date, score) but names nobody; its PDF goes with the files.
    conn.execute("UPDATE certificates SET learner_name = '(erased)', path = NULL WHERE learner_id = ?", (learner_id,))
    _scrub_payments(conn, learner_id, row)
    stamp = now.isoformat()
    conn.execute(
        """UPDATE learners SET channel_key = 'erased:' || id, phone = NULL, wa_id = NULL, wa_user_id = NULL, name = NULL,
                  profile_name = NULL, status = 'deleted', opted_out = 1, cohort = cohort, last_inbound_at = NULL,
                  deleted_at = ?, updated_at = ? WHERE id = ?""",
        (stamp, stamp, learner_id),
    )
    return files


def _scrub_payments(conn: sqlite3.Connection, learner_id: int, row: sqlite3.Row | None) -> None:
    """Payments stay for the books (amount, currency, dates, status, receipt and provider reference), without the
    number or name they were made from. Raw provider payloads about the learner (Stripe events carry their id in
    metadata, and the card holder's name and e-mail; M-PESA callbacks quote the phone without '+') are replaced by
    a marker: the row stays, so a retried webhook is still recognised. Open review rows that only quote the
    number (an M-PESA callback nobody could match) keep their amount and receipt for the admin, minus the number."""
    conn.execute("UPDATE payments SET phone = NULL WHERE learner_id = ?", (learner_id,))
    refs = json.dumps(
        [
            r[0]
            for r in conn.execute(
                """SELECT provider_ref FROM payments WHERE learner_id = ? AND provider_ref IS NOT NULL
                   UNION SELECT provider_ref FROM subscriptions WHERE learner_id = ? AND provider_ref IS NOT NULL""",
                (learner_id, learner_id),
            )
        ]
    )
    for table in ("payment_events", "payment_reviews"):
        conn.execute(
            f"""UPDATE {table} SET payload = '{{"erased": true}}'
                WHERE payment_id IN (SELECT id FROM payments WHERE learner_id = ?)
                   OR (json_valid(payload) AND EXISTS (
                        SELECT 1 FROM json_tree({table}.payload) t
                        WHERE (t.key IN ('learner_id', 'client_reference_id') AND CAST(t.atom AS TEXT) = ?)
                           OR t.atom IN (SELECT value FROM json_each(?))))""",
            (learner_id, str(learner_id), refs),
        )
    if row is None:
        return
    numbers = _number_forms(row["phone"]) | _number_forms(row["wa_id"])
    # A name is only removed where the number was too: 'Ann' must not be cut out of someone else's 'Annual'.
    # Each part too: people write 'Amina' for 'Amina Wanjiru'.
    names = {v for n in (row["name"], row["profile_name"]) if n for v in (n, *n.split()) if len(v) >= 3}
    secrets = sorted(numbers | names, key=len, reverse=True)  # longest first: '+2547…' before '2547…'
    for table in ("payment_events", "payment_reviews"):
        ids = [
            r[0]
            for number in numbers
            for r in conn.execute(f"SELECT id FROM {table} WHERE instr(payload, ?) > 0", (number,))
        ]
        for secret in secrets:
            conn.execute(
                f"""UPDATE {table} SET payload = replace(payload, ?, '(erased)')
                    WHERE id IN (SELECT value FROM json_each(?))""",
                (secret, json.dumps(ids)),
            )
    # What admins typed about their payments (a refund note, a manual grant's reason) may name them too.
    targets = json.dumps(
        [f"payment:{r[0]}" for r in conn.execute("SELECT id FROM payments WHERE learner_id = ?", (learner_id,))]
        + [f"learner:{learner_id}"]
    )
    for secret in secrets:
        conn.execute(
            "UPDATE payments SET note = replace(note, ?, '(erased)') WHERE learner_id = ? AND instr(note, ?) > 0",
            (secret, learner_id, secret),
        )
        conn.execute(
            """UPDATE audit_log SET detail = replace(detail, ?, '(erased)')
               WHERE target IN (SELECT value FROM json_each(?)) AND instr(detail, ?) > 0""",
            (secret, targets, secret),
        )


def _number_forms(number: str | None) -> set[str]:
    """The ways a number is written: '+254712345678', '254712345678' (M-PESA), '0712345678', '712345678'."""
    if not number:
        return set()
    digits = number.lstrip("+")
    forms = {number, digits}
    try:
        national = str(phonenumbers.parse("+" + digits, None).national_number)
    except phonenumbers.NumberParseException:
        national = ""
    forms |= {national, "0" + national} if len(national) >= 7 else set()
    return {f for f in forms if len(f.lstrip("+")) >= 7}


# -- search, one learner's record, moves and export (admin pages, JSON API) ------------------------

STATUSES = ("onboarding", "active", "paused", "finished")


@dataclass(frozen=True)
class LearnerFilter:
    q: str = ""
    course_id: int | None = None
    status: str = ""
    cohort: str = ""
    inactive_days: int | None = None
    page: int = 1
    per_page: int = 50
    # Which learners the reader may see (admin.scope.LearnerScope.sql("l.id")): "1" is everyone.
    scope: tuple[str, list] = ("1", [])


@dataclass
class LearnerPage:
    rows: list = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 50

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _where(f: LearnerFilter, now: datetime) -> tuple[str, list]:
    clauses: list[str] = ["l.status != 'deleted'", f"({f.scope[0]})"]
    args: list[str | int] = [*f.scope[1]]
    q = f.q.strip()
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        if digits and len(digits) >= 3 and len(digits) >= len(q.replace("+", "").replace(" ", "")) - 1:
            # A phone number (or part of one): match anywhere in the stored E.164 number.
            # A leading 0 is the national trunk prefix ("0711…" is stored as "+254711…").
            clauses.append("l.phone LIKE ?")
            args.append(f"%{digits.lstrip('0') or digits}%")
        else:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append("(l.name LIKE ? ESCAPE '\\' OR l.profile_name LIKE ? ESCAPE '\\')")
            args += [like, like]
    if f.status == "opted_out":
        clauses.append("l.opted_out = 1")
    elif f.status in STATUSES:
        clauses.append("l.status = ?")
        args.append(f.status)
    if f.cohort:  # members of the class (learner_classes, migration 0021), whether or not it is their main one
        clauses.append("l.id IN (SELECT learner_id FROM learner_classes WHERE class_name = ?)")
        args.append(f.cohort)
    if f.course_id:
        clauses.append("EXISTS (SELECT 1 FROM enrollments e WHERE e.learner_id = l.id AND e.course_id = ?)")
        args.append(f.course_id)
    if f.inactive_days:
        cutoff = (now - timedelta(days=f.inactive_days)).isoformat()
        # COALESCE keeps the planner off a multi-index OR over last_inbound_at (~100 ms at 100k learners);
        # the status/cohort indexes narrow better, and a plain scan of 100k rows is ~10 ms.
        clauses.append("COALESCE(l.last_inbound_at, '') < ?")
        args.append(cutoff)
    return " AND ".join(clauses), args


def search(conn: sqlite3.Connection, f: LearnerFilter, now: datetime) -> LearnerPage:
    where, args = _where(f, now)
    total = conn.execute(f"SELECT COUNT(*) FROM learners l WHERE {where}", args).fetchone()[0]
    rows = conn.execute(
        f"""SELECT l.id, l.name, l.profile_name, l.phone, l.wa_user_id, l.channel, l.status, l.opted_out, l.cohort,
                   l.streak, l.last_inbound_at, c.title AS course_title
            FROM learners l LEFT JOIN courses c ON c.id = l.current_course_id
            WHERE {where} ORDER BY l.id DESC LIMIT ? OFFSET ?""",
        [*args, f.per_page, (max(1, f.page) - 1) * f.per_page],
    ).fetchall()
    return LearnerPage(rows=rows, total=total, page=f.page, per_page=f.per_page)


def filter_options(conn: sqlite3.Connection) -> dict:
    return {
        "courses": conn.execute("SELECT id, title, language FROM courses ORDER BY position, title").fetchall(),
        # DISTINCT over the cohort index: cheap even with 100k learners.
        "cohorts": [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT cohort FROM learners WHERE cohort IS NOT NULL AND cohort != '' ORDER BY cohort LIMIT 500"
            )
        ],
    }


def learner(conn: sqlite3.Connection, learner_id: int, scope: tuple[str, list] = ("1", [])) -> sqlite3.Row | None:
    """One learner's row; None when erased, unknown or outside `scope` (admin.scope's .sql("l.id"))."""
    return conn.execute(
        f"""SELECT l.*, c.title AS course_title FROM learners l LEFT JOIN courses c ON c.id = l.current_course_id
           WHERE l.id = ? AND l.status != 'deleted' AND ({scope[0]})""",
        (learner_id, *scope[1]),
    ).fetchone()


def enrollments(conn: sqlite3.Connection, learner_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT e.*, c.title, c.slug,
                  (SELECT COUNT(*) FROM lessons s WHERE s.course_id = c.id AND s.published = 1) AS lessons,
                  (SELECT COUNT(*) FROM progress p JOIN lessons s ON s.id = p.lesson_id
                    WHERE p.learner_id = e.learner_id AND s.course_id = c.id AND p.completed_at IS NOT NULL) AS done
           FROM enrollments e JOIN courses c ON c.id = e.course_id WHERE e.learner_id = ? ORDER BY e.started_at""",
        (learner_id,),
    ).fetchall()


def badges(conn: sqlite3.Connection, learner_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT b.code, b.awarded_at, d.emoji, d.names FROM learner_badges b
           LEFT JOIN badge_definitions d ON d.code = b.code WHERE b.learner_id = ? ORDER BY b.awarded_at""",
        (learner_id,),
    ).fetchall()


def answers(conn: sqlite3.Connection, learner_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT a.given, a.correct, a.answered_at, q.prompt, q.kind, q.choices
           FROM answers a JOIN questions q ON q.id = a.question_id
           WHERE a.learner_id = ? ORDER BY a.answered_at DESC LIMIT ?""",
        (learner_id, limit),
    ).fetchall()


def set_status(conn: sqlite3.Connection, learner_id: int, status: str, now: datetime) -> bool:
    cursor = conn.execute(
        "UPDATE learners SET status = ?, updated_at = ? WHERE id = ? AND status != 'deleted'",
        (status, now.isoformat(), learner_id),
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class CourseMove:
    """What moving a learner to another course changes; the admin page says it before anything is done."""

    learner_id: int
    course_id: int
    title: str
    course_language: str
    lessons: int  # published lessons of the course moved to
    learner_language: str
    learner_status: str
    leaving: sqlite3.Row | None  # their enrolment in the current course (enrollments() row), if any
    joining: sqlite3.Row | None  # their enrolment in the course moved to, when they were in it before

    @property
    def same_course(self) -> bool:
        return self.leaving is not None and self.leaving["course_id"] == self.course_id


def plan_move(conn: sqlite3.Connection, learner_id: int, course_id: int) -> CourseMove | None:
    """What move_course(learner, course) would do; None when there is no such learner or course."""
    row = learner(conn, learner_id)
    course = conn.execute(
        """SELECT c.id, c.title, c.language,
                  (SELECT COUNT(*) FROM lessons s WHERE s.course_id = c.id AND s.published = 1) AS lessons
           FROM courses c WHERE c.id = ?""",
        (course_id,),
    ).fetchone()
    if row is None or course is None:
        return None
    rows = {e["course_id"]: e for e in enrollments(conn, learner_id)}
    return CourseMove(
        learner_id=learner_id,
        course_id=course_id,
        title=course["title"],
        course_language=course["language"],
        lessons=course["lessons"],
        learner_language=row["language"],
        learner_status=row["status"],
        leaving=rows.get(row["current_course_id"]),
        joining=rows.get(course_id),
    )


def move_course(
    conn: sqlite3.Connection, learner_id: int, course_id: int, now: datetime, *, set_language: bool = True
) -> None:
    """Make course_id the learner's current course, in the course's language (set_language=False: a bulk
    enrolment's CSV says the language itself). Nothing of the course they leave is
    lost: its enrolment stays, ended as 'dropped' (a completed one stays completed) with its place, and every
    lesson's progress, answer and badge stays theirs, so choosing it again (COURSES) carries on where they were.
    A course they were in before carries on at its place (completed stays completed); a new one starts at its
    first lesson. A learner who had finished every course is active again."""
    conn.execute(
        """UPDATE enrollments SET status = 'dropped' WHERE learner_id = ? AND course_id != ? AND status = 'active'
               AND course_id = (SELECT current_course_id FROM learners WHERE id = ?)""",
        (learner_id, course_id, learner_id),
    )
    progress.enroll(conn, learner_id, course_id, now)  # new, or back to a dropped one at its place
    conn.execute(
        """UPDATE learners SET current_course_id = ?,
                  language = CASE WHEN ? THEN (SELECT language FROM courses WHERE id = ?) ELSE language END,
                  status = CASE WHEN status = 'finished' THEN 'active' ELSE status END, updated_at = ?
           WHERE id = ?""",
        (course_id, int(set_language), course_id, now.isoformat(), learner_id),
    )


def set_cohort(conn: sqlite3.Connection, learner_id: int, cohort: str, now: datetime) -> None:
    conn.execute(
        "UPDATE learners SET cohort = ?, updated_at = ? WHERE id = ?", (cohort or None, now.isoformat(), learner_id)
    )


def export_learner(conn: sqlite3.Connection, learner_id: int) -> dict:
    """Everything stored about one learner (the GDPR access request), as plain JSON-able data."""

    def rows(sql: str) -> list[dict]:
        return [dict(r) for r in conn.execute(sql, (learner_id,))]

    return {
        "learner": rows("SELECT * FROM learners WHERE id = ?"),
        "enrollments": rows("SELECT * FROM enrollments WHERE learner_id = ?"),
        "progress": rows("SELECT * FROM progress WHERE learner_id = ?"),
        "answers": rows("SELECT * FROM answers WHERE learner_id = ?"),
        "checkin_answers": rows("SELECT * FROM checkin_answers WHERE learner_id = ?"),
        "badges": rows("SELECT * FROM learner_badges WHERE learner_id = ?"),
        "learner_classes": rows("SELECT class_name, added_at FROM learner_classes WHERE learner_id = ?"),
        "certificates": rows(
            "SELECT code, course_id, learner_name, score, issued_at, revoked_at FROM certificates WHERE learner_id = ?"
        ),
        "messages": [
            {**r, "media": json.loads(r["media"] or "[]")}
            for r in rows(
                "SELECT id, direction, channel, body, media, kind, status, created_at, sent_at FROM messages "
                "WHERE learner_id = ? ORDER BY id"
            )
        ],
        "opt_outs": rows("SELECT opted_out_at FROM learner_opt_outs WHERE learner_id = ? ORDER BY id"),
        "review_items": rows(
            """SELECT question_id, due_at, interval_days, ease, repetitions, lapses, last_reviewed_at, stability,
                      difficulty FROM review_items WHERE learner_id = ? ORDER BY id"""
        ),
        "review_log": rows(
            """SELECT question_id, reviewed_at, source, rating, retrievability, stability_after, difficulty_after,
                      due_after FROM review_log WHERE learner_id = ? ORDER BY id"""
        ),
        "tutor_exchanges": rows(
            """SELECT id, question, answer, language, course_id, status, source, flagged_at, flag_note, created_at,
                      answered_at FROM tutor_exchanges WHERE learner_id = ? ORDER BY id"""
        ),
        "handovers": handover.export_learner_handovers(conn, learner_id),
        "deliveries": rows(
            "SELECT kind, key, lesson_id, due_at, status, created_at FROM deliveries WHERE learner_id = ?"
        ),
        "subscriptions": rows(
            """SELECT id, plan, provider, provider_ref, courses, status, current_period_end, access_until,
                      cancel_at_period_end, created_at, updated_at, ended_at FROM subscriptions WHERE learner_id = ?"""
        ),
        "payments": rows(
            """SELECT id, subscription_id, plan, provider, amount_minor, currency, phone, status, provider_ref, receipt,
                      result_desc, period_days, note, created_at, paid_at, refunded_at FROM payments
               WHERE learner_id = ? ORDER BY id"""
        ),
    }


ENROLLMENT_STATUSES = ("active", "completed", "dropped")


def enrollment_page(
    conn: sqlite3.Connection,
    *,
    course_id: int | None,
    status: str,
    page: int,
    per_page: int,
    scope: tuple[str, list] = ("1", []),
) -> tuple[list[dict], int]:
    """Enrolments for the JSON API, oldest first (stable paging), with each one's completed-lesson count; only of
    learners inside `scope` (admin.scope's .sql("l.id"))."""
    clauses: list[str] = ["l.deleted_at IS NULL", f"({scope[0]})"]
    params: list[str | int] = [*scope[1]]
    if course_id is not None:
        clauses.append("e.course_id = ?")
        params.append(course_id)
    if status in ENROLLMENT_STATUSES:
        clauses.append("e.status = ?")
        params.append(status)
    where = " AND ".join(clauses)
    total = conn.execute(
        f"SELECT COUNT(*) FROM enrollments e JOIN learners l ON l.id = e.learner_id WHERE {where}", params
    ).fetchone()[0]
    rows = conn.execute(
        f"""SELECT e.id, e.learner_id, e.course_id, c.slug AS course_slug, e.status, e.next_position, e.score,
                   e.started_at, e.completed_at,
                   (SELECT COUNT(*) FROM progress p JOIN lessons s ON s.id = p.lesson_id
                     WHERE p.learner_id = e.learner_id AND s.course_id = e.course_id
                       AND p.completed_at IS NOT NULL) AS completed_lessons
            FROM enrollments e JOIN learners l ON l.id = e.learner_id JOIN courses c ON c.id = e.course_id
            WHERE {where} ORDER BY e.id LIMIT ? OFFSET ?""",
        (*params, per_page, (page - 1) * per_page),
    ).fetchall()
    return [dict(r) for r in rows], total


def lesson_progress(conn: sqlite3.Connection, learner_id: int) -> list[dict]:
    """Per-lesson progress of one learner, in course and lesson order."""
    rows = conn.execute(
        """SELECT s.course_id, c.slug AS course_slug, p.lesson_id, s.position, s.title, p.delivered_at,
                  p.completed_at, p.correct, p.total, p.attempts, p.passed
           FROM progress p JOIN lessons s ON s.id = p.lesson_id JOIN courses c ON c.id = s.course_id
           WHERE p.learner_id = ? ORDER BY c.position, c.id, s.position""",
        (learner_id,),
    ).fetchall()
    return [{**dict(r), "passed": bool(r["passed"])} for r in rows]
