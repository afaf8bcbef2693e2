"""Certificates end to end: who is eligible, issuing (idempotent), re-sending and revoking."""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coachbox.certificates import fonts, wording
from coachbox.certificates.codes import new_code, normalise_code, verify_url
from coachbox.core.config import Settings
from coachbox.core.services import Services
from coachbox.learning.progress import course_passed, percent
from coachbox.store import certificates as store
from coachbox.store import transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound

log = logging.getLogger("coachbox.certificates")

FOLDER = "certificates"


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    score: int | None
    passing_score: int
    reason: str  # completed | not_completed | below_passing | not_enrolled


@dataclass(frozen=True)
class Issued:
    certificate: store.CertificateRow | None
    created: bool  # False: it existed already (idempotent) or the learner is not eligible
    eligibility: Eligibility
    message_id: int | None = None


def eligibility(conn: sqlite3.Connection, learner_id: int, course_id: int) -> Eligibility:
    """Completed the course at or above its passing score (the score over all its quizzes)."""
    row = conn.execute(
        """SELECT e.status, e.score, c.passing_score FROM courses c
           LEFT JOIN enrollments e ON e.course_id = c.id AND e.learner_id = ? WHERE c.id = ?""",
        (learner_id, course_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"course {course_id} does not exist")
    passing = row["passing_score"]
    if row["status"] is None:
        return Eligibility(False, None, passing, "not_enrolled")
    correct, total, lessons_passed, lessons = conn.execute(
        """SELECT COALESCE(SUM(p.correct), 0), COALESCE(SUM(p.total), 0), COUNT(p.id) FILTER (WHERE p.passed),
                  COUNT(l.id)
           FROM lessons l LEFT JOIN progress p ON p.lesson_id = l.id AND p.learner_id = ?
           WHERE l.course_id = ?""",
        (learner_id, course_id),
    ).fetchone()
    score = row["score"] if row["score"] is not None else (percent(correct, total) if total else None)
    if row["status"] != "completed":
        return Eligibility(False, score, passing, "not_completed")
    # The rule the conversation applies (learning.progress.course_passed): every lesson passed, or the whole
    # course's answers pass. The stored score stays what the learner was told.
    every_lesson = lessons > 0 and lessons_passed == lessons
    if not (course_passed(every_lesson, correct, total, passing) or (score is not None and score >= passing)):
        return Eligibility(False, score, passing, "below_passing")
    return Eligibility(True, score, passing, "completed")


# -- issuing --------------------------------------------------------------------------------------------------


def _context(conn: sqlite3.Connection, learner_id: int, course_id: int) -> dict:
    learner = conn.execute(
        "SELECT id, name, profile_name, language, timezone, channel, channel_key, status FROM learners WHERE id = ?",
        (learner_id,),
    ).fetchone()
    if learner is None:
        raise LookupError(f"learner {learner_id} does not exist")
    course = conn.execute("SELECT id, title FROM courses WHERE id = ?", (course_id,)).fetchone()
    existing = store.for_learner(conn, learner_id, course_id)
    return {
        "learner": dict(learner),
        "course": dict(course) if course else None,
        "existing": existing[0] if existing else None,
        "eligibility": eligibility(conn, learner_id, course_id),
    }


def issue_certificate(services: Services, learner_id: int, course_id: int, *, resend_key: str | None = None) -> Issued:
    """Issue (draw, store, record, send) once per learner and course; later calls return the same certificate,
    and send it again when `resend_key` is given (the learner asked: CERTIFICATE), once per key.

    Runs in the worker (or any thread that may block): the PDF is drawn outside the writer's transaction so
    the ~70 ms of drawing never holds the database lock.
    """
    settings, db, now = services.settings, services.db, services.clock.now()
    ctx = db.run_sync(_context, learner_id, course_id)
    if ctx["learner"]["status"] == "deleted":
        # A task queued before the learner's DELETE: drawing or re-drawing would put their name back on disk.
        return Issued(None, False, ctx["eligibility"])
    if ctx["existing"] is not None:
        ensure_file(services, ctx["existing"])
        db.run_sync(_close_request, learner_id, course_id, "done")
        if resend_key is not None and ctx["existing"].valid:
            resend_certificate(services, learner_id, course_id=course_id, request_key=resend_key)
        return Issued(ctx["existing"], False, ctx["eligibility"])
    if not ctx["eligibility"].eligible:
        db.run_sync(_close_request, learner_id, course_id, "cancelled")
        return Issued(None, False, ctx["eligibility"])
    learner, course, score = ctx["learner"], ctx["course"], ctx["eligibility"].score
    name = (learner["name"] or learner["profile_name"] or "").strip()
    if not name:
        log.warning("certificate without a learner name", extra={"learner_id": learner_id})
    folder = settings.data_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # a fresh code on the (one in a trillion) collision
        code = new_code()
        row = store.CertificateRow(
            0,
            code,
            learner_id,
            course_id,
            name,
            score,
            learner["language"],
            f"{FOLDER}/{code}.pdf",
            now.isoformat(),
            None,
            course["title"],
        )
        temporary = folder / f".{code}.pdf.tmp"
        temporary.write_bytes(render_pdf(settings, row, timezone=learner["timezone"]))
        try:
            result = db.run_sync(_record, row, learner, temporary, now, _congratulation(settings, row))
        except sqlite3.IntegrityError:
            temporary.unlink(missing_ok=True)
            continue
        if result is None:  # another worker issued it between our read and our write
            temporary.unlink(missing_ok=True)
            existing = db.run_sync(store.for_learner, learner_id, course_id)[0]
            return Issued(existing, False, ctx["eligibility"])
        certificate, message_id = result
        log.info("certificate issued", extra={"code": code, "learner_id": learner_id, "course_id": course_id})
        return Issued(certificate, True, ctx["eligibility"], message_id)
    raise RuntimeError("could not find a free certificate code in 3 tries")


def _record(
    conn: sqlite3.Connection, row: store.CertificateRow, learner: dict, temporary: Path, now: datetime, body: str
) -> tuple[store.CertificateRow, int | None] | None:
    learner_id = row.learner_id
    if learner_id is None:  # issue_certificate builds the row for a learner; only erasure blanks it later
        raise ValueError("a new certificate needs its learner")
    with transaction(conn):
        certificate_id = store.insert(
            conn,
            code=row.code,
            learner_id=learner_id,
            course_id=row.course_id,
            learner_name=row.learner_name,
            score=row.score,
            language=row.language,
            path=_relative_path(row),
            issued_at=now,
        )
        if certificate_id is None:
            return None
        # Rename inside the transaction: if the commit fails we leave an orphan file, never a row without one.
        os.replace(temporary, temporary.with_name(f"{row.code}.pdf"))
        message_id = _enqueue(conn, learner, row, body, f"certificate:{row.code}:issued", now)
        _close_request(conn, learner_id, row.course_id, "done")
        certificate = store.by_id(conn, certificate_id)
    if certificate is None:  # inserted just above, in this transaction
        raise LookupError(f"certificate {certificate_id} vanished inside its own transaction")
    return certificate, message_id


def _enqueue(
    conn: sqlite3.Connection, learner: dict, row: store.CertificateRow, body: str, key: str, now: datetime
) -> int | None:
    draft = OutboxDraft(
        body=body,
        kind="certificate",
        idempotency_key=key,
        media=(_relative_path(row),),
        template_key="certificate",
        content_variables={"1": row.learner_name.split()[0] if row.learner_name else "", "2": row.course_title},
    )
    return enqueue_outbound(
        conn, learner_id=learner["id"], channel=learner["channel"], address=learner["channel_key"], draft=draft, now=now
    )


def _congratulation(settings: Settings, row: store.CertificateRow) -> str:
    first = row.learner_name.split()[0] if row.learner_name else ""
    return wording.phrase(
        settings,
        row.language,
        "certificate_delivery.congratulations",
        name=first,
        course=row.course_title,
        score=row.score,
        code=row.code,
        url=verify_url(settings, row.code),
    )


def _close_request(conn: sqlite3.Connection, learner_id: int, course_id: int, status: str) -> None:
    """The conversation's pending request (deliveries kind 'certificate') is settled: the sweep skips it."""
    conn.execute(
        "UPDATE deliveries SET status = ? WHERE learner_id = ? AND kind = 'certificate' AND key = ? AND status = 'pending'",
        (status, learner_id, str(course_id)),
    )


def pending_requests(conn: sqlite3.Connection, *, before: datetime, limit: int = 100) -> list[tuple[int, int]]:
    """(learner_id, course_id) of certificate requests whose task seems lost (Huey may drop a task)."""
    rows = conn.execute(
        """SELECT learner_id, CAST(key AS INTEGER) FROM deliveries
           WHERE kind = 'certificate' AND status = 'pending' AND created_at < ? ORDER BY id LIMIT ?""",
        (before.isoformat(), limit),
    )
    return [tuple(row) for row in rows]


# -- drawing --------------------------------------------------------------------------------------------------


def local_date_text(settings: Settings, language: str, issued_at: str, timezone: str | None = None) -> str:
    """'2 March 2026' / '2 Machi 2026': the issue date in the learner's time zone and language."""
    when = datetime.fromisoformat(issued_at)
    try:
        when = when.astimezone(ZoneInfo(timezone or settings.org.default_timezone))
    except (ZoneInfoNotFoundError, ValueError):
        pass
    texts = wording.table(settings, language, "certificate_pdf")
    months = texts.get("months") or []
    month = months[when.month - 1] if len(months) == 12 else when.strftime("%B")
    return texts.get("date", "{day} {month} {year}").format(day=when.day, month=month, year=when.year)


def render_pdf(settings: Settings, row: store.CertificateRow, *, timezone: str | None = None) -> bytes:
    # lazy: fpdf2, Pillow, fontTools and uharfbuzz cost ~20 MB and ~0.2 s, and only drawing a certificate needs them
    from coachbox.certificates import pdf

    texts = wording.table(settings, row.language, "certificate_pdf")
    url = verify_url(settings, row.code)
    date = local_date_text(settings, row.language, row.issued_at, timezone)
    logo = fonts.resolve(settings, settings.org.logo_path) if settings.org.logo_path else None
    content = pdf.CertificateContent(
        org_name=settings.org.name,
        heading=texts["heading"],
        presented=texts["presented"],
        learner_name=row.learner_name,
        completed=texts["completed"],
        course_title=row.course_title,
        details=texts["details"].format(score=row.score, date=date),
        code_label=texts["code_label"].format(code=row.code),
        verify_label=texts["verify_label"].format(url=url),
        verify_url=url,
        logo=logo,
    )
    return pdf.render(content, fonts.fonts_from_settings(settings))


def _relative_path(certificate: store.CertificateRow) -> str:
    """Where the PDF lives under data/ (erasure blanks the stored path; the file name follows from the code)."""
    return certificate.path or f"{FOLDER}/{certificate.code}.pdf"


def ensure_file(services: Services, certificate: store.CertificateRow) -> Path:
    """The PDF on disk, drawn again from the row if it was lost (a restored backup without the folder)."""
    path = services.settings.data_dir / _relative_path(certificate)
    if not path.is_file():
        timezone = services.db.run_sync(
            lambda conn: (
                conn.execute("SELECT timezone FROM learners WHERE id = ?", (certificate.learner_id,)).fetchone()
                or [None]
            )[0]
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(render_pdf(services.settings, certificate, timezone=timezone))
        os.replace(temporary, path)
        log.info("certificate file drawn again", extra={"code": certificate.code})
    return path


# -- re-sending and revoking ------------------------------------------------------------------------------------


def _is_erased(conn: sqlite3.Connection, learner_id: int) -> bool:
    row = conn.execute("SELECT status FROM learners WHERE id = ?", (learner_id,)).fetchone()
    return row is None or row["status"] == "deleted"


def resend_certificate(
    services: Services, learner_id: int, *, course_id: int | None = None, request_key: str | None = None
) -> store.CertificateRow | None:
    """CERTIFICATE: send the learner's newest valid certificate again; None when they have none."""
    now = services.clock.now()
    if services.db.run_sync(_is_erased, learner_id):
        return None  # the learner erased their data since asking: nothing to draw, nobody to send to
    certificates = [c for c in services.db.run_sync(store.for_learner, learner_id, course_id) if c.valid]
    if not certificates:
        return None
    certificate = certificates[0]
    ensure_file(services, certificate)
    body = wording.phrase(
        services.settings,
        certificate.language,
        "certificate_delivery.resend",
        course=certificate.course_title,
        code=certificate.code,
        url=verify_url(services.settings, certificate.code),
    )
    key = f"certificate:{certificate.code}:resend:{request_key or now.isoformat()}"

    def _write(conn: sqlite3.Connection) -> None:
        learner = conn.execute("SELECT id, channel, channel_key FROM learners WHERE id = ?", (learner_id,)).fetchone()
        with transaction(conn):
            _enqueue(conn, dict(learner), certificate, body, key, now)

    services.db.run_sync(_write)
    return certificate


def revoke(services: Services, code: str, *, admin_id: int | None = None, reason: str = "") -> bool:
    """Revoke from the admin page (sync callers); the verify page shows it at once."""
    now = services.clock.now()

    def _write(conn: sqlite3.Connection) -> bool:
        with transaction(conn):
            return store.revoke_certificate(conn, normalise_code(code), now=now, admin_id=admin_id, reason=reason)

    return services.db.run_sync(_write)
