"""Tell the teacher on duty (or the assigned one) that learners wait in the inbox: e-mail and/or WhatsApp, once per
conversation, the new ones of a few minutes gathered into one notice per teacher ([inbox] notify)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from huey import Huey, crontab

from coachbox.channels.email import MailError, send_mail
from coachbox.core.services import Services
from coachbox.store import inbox, transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound

log = logging.getLogger("coachbox.inbox")
LISTED = 8  # conversations named in one notice (a WhatsApp template variable holds about 1,000 characters)

REASONS = {
    "asked": "asked for a teacher",
    "tutor_no_answer": "the tutor had no answer",
    "tutor_flagged": "a tutor answer was flagged",
    "tutor_guardrail": "the tutor would not answer",
    "payment": "payment",
    "safeguarding": "SAFEGUARDING",
}


@dataclass
class Report:
    told: int = 0  # conversations recorded as notified this round
    emails: int = 0
    whatsapp: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return not (self.told or self.failed)

    def summary(self) -> str:
        return f"{self.told} conversations, {self.emails} e-mails, {self.whatsapp} WhatsApp" + (
            f"; failed: {'; '.join(self.failed)}" if self.failed else ""
        )


def _ways(services: Services) -> set[str]:
    return {w.strip() for w in services.settings.inbox.notify.split(",") if w.strip()}


def _line(row, base: str) -> str:
    who = row["learner_name"] or row["phone"] or "a learner"
    klass = f" ({row['cohort']})" if row["cohort"] else ""
    return f"- {who}{klass}: {REASONS.get(row['reason'], row['reason'])}, since {row['opened_at'][:16]} UTC: {base}/admin/inbox/{row['id']}"


def notice_text(rows: list, base: str) -> tuple[str, str]:
    """(subject, body) of one notice about these conversations (plain text: e-mail and WhatsApp alike)."""
    count = len(rows)
    subject = f"{count} learner{'s' if count > 1 else ''} waiting in the inbox"
    if any(r["reason"] == "safeguarding" for r in rows):
        subject = "Safeguarding: " + subject
    lines = [_line(r, base) for r in rows[:LISTED]]
    if count > LISTED:
        lines.append(f"- and {count - LISTED} more")
    body = "\n".join([f"{subject}:", *lines, "", f"Open the inbox: {base}/admin/inbox"])
    return subject, body


def notify_waiting(services: Services) -> Report:
    """One round: every open conversation nobody was told about yet goes into one notice per recipient, unless the
    last round was less than [inbox] notify_gap_minutes ago (they wait for the next). A recipient whose e-mail fails
    is tried again next round; a conversation with nobody to tell is recorded all the same (no loop)."""
    report = Report()
    ways = _ways(services)
    if not ways:
        return report
    settings, now = services.settings, services.clock.now()
    last = services.db.run_sync(inbox.last_notified_at)
    if last and now - datetime.fromisoformat(last) < timedelta(minutes=settings.inbox.notify_gap_minutes):
        return report
    rows = services.db.run_sync(inbox.unnotified)
    if not rows:
        return report
    base = settings.server.public_url.rstrip("/")
    via: dict[int, set[str]] = {r["id"]: set() for r in rows}
    failed: set[int] = set()
    if "email" in ways:
        by_address: dict[str, list] = {}
        for r in rows:
            address = r["assigned_email"] or settings.inbox.duty_email
            if address:
                by_address.setdefault(address, []).append(r)
        for address, mine in by_address.items():
            subject, body = notice_text(mine, base)
            try:
                send_mail(settings.smtp, [address], subject, body)
            except MailError as exc:
                log.warning("inbox e-mail failed", extra={"to": address, "error": str(exc)})
                report.failed.append(str(exc))
                failed.update(r["id"] for r in mine)
                continue
            report.emails += 1
            for r in mine:
                via[r["id"]].add("email")
    if "whatsapp" in ways and settings.inbox.duty_whatsapp:
        _, body = notice_text(rows, base)
        number = settings.inbox.duty_whatsapp.strip()
        draft = OutboxDraft(
            body=body,
            kind="inbox_notice",
            idempotency_key=f"inbox-notice:{number}:{min(via)}:{max(via)}:{now.isoformat()}",
            template_key="admin",  # outside the teacher's window: the admin template, {{1}} the text
            content_variables={"1": body},
        )

        def queue(conn):
            with transaction(conn):
                # Not a learner's message: no learner row (the outbox takes a NULL learner; it is never held).
                return enqueue_outbound(
                    conn,
                    learner_id=None,  # type: ignore[arg-type]
                    channel="whatsapp",
                    address=f"whatsapp:{number}",
                    draft=draft,
                    now=now,
                )

        if services.db.run_sync(queue) is not None:
            report.whatsapp += 1
            for r in rows:
                via[r["id"]].add("whatsapp")
    done = [(hid, ",".join(sorted(ways_done))) for hid, ways_done in via.items() if hid not in failed or ways_done]

    def mark(conn):
        with transaction(conn):
            return sum(inbox.mark_notified(conn, [hid], now, how) for hid, how in done)

    report.told = services.db.run_sync(mark)
    if report.whatsapp and services.sender is not None:
        services.sender.kick()
    return report


def register(huey: Huey, context) -> dict:
    """The round every minute (it does nothing unless [inbox] notify is set, and waits out the gap)."""

    @huey.periodic_task(crontab(minute="*"), name="inbox_notify")
    @huey.lock_task("inbox.notify")
    def inbox_notify() -> str:
        report = notify_waiting(context.get())
        return report.summary()

    return {"inbox_notify": inbox_notify}
