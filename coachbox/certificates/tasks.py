"""Huey tasks for certificates: issue (draw + send) and re-send, by ids, idempotent."""

from __future__ import annotations

from huey import Huey

from coachbox.certificates import service


def register(huey: Huey, context) -> dict:
    # Issuing is idempotent per learner and course, so a retried or duplicated task never sends twice.
    @huey.task(name="certificates.issue", retries=3, retry_delay=30)
    def issue_certificate(learner_id: int, course_id: int) -> str | None:
        issued = service.issue_certificate(context.get(), learner_id, course_id)
        return issued.certificate.code if issued.certificate else None

    @huey.task(name="certificates.resend", retries=2, retry_delay=30)
    def resend_certificate(learner_id: int, course_id: int | None = None, request_key: str | None = None) -> str | None:
        certificate = service.resend_certificate(context.get(), learner_id, course_id=course_id, request_key=request_key)
        return certificate.code if certificate else None

    return {"certificates.issue": issue_certificate, "certificates.resend": resend_certificate}
