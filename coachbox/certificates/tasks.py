"""Huey tasks for certificates: issue (draw + send) and re-send, by ids, idempotent; a sweep for lost tasks."""

from __future__ import annotations

from datetime import timedelta

from huey import Huey, crontab

from coachbox.certificates import service


def register(huey: Huey, context) -> dict:
    # Issuing is idempotent per learner and course. When the certificate exists already, the learner asked for
    # it again (CERTIFICATE): it is re-sent once per task id, so Huey's own retries never send it twice.
    @huey.task(name="certificates.issue", retries=3, retry_delay=30, context=True)
    def issue_certificate(learner_id: int, course_id: int, task=None) -> str | None:
        issued = service.issue_certificate(
            context.get(), learner_id, course_id, resend_key=f"task:{task.id}" if task is not None else None
        )
        return issued.certificate.code if issued.certificate else None

    @huey.task(name="certificates.resend", retries=2, retry_delay=30)
    def resend_certificate(learner_id: int, course_id: int | None = None, request_key: str | None = None) -> str | None:
        certificate = service.resend_certificate(
            context.get(), learner_id, course_id=course_id, request_key=request_key
        )
        return certificate.code if certificate else None

    @huey.periodic_task(crontab(minute="*/5"), name="certificates.sweep")
    def sweep() -> int:
        services = context.get()
        before = services.clock.now() - timedelta(minutes=2)
        requests = services.db.run_sync(lambda conn: service.pending_requests(conn, before=before))
        for learner_id, course_id in requests:
            service.issue_certificate(services, learner_id, course_id)
        return len(requests)

    return {
        "certificates.issue": issue_certificate,
        "certificates.resend": resend_certificate,
        "certificates.sweep": sweep,
    }
