"""Issuing certificates: eligibility, the PDF read back (text + QR), idempotency, delivery, resend, revoke."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from coachbox.certificates import codes as certificate_codes
from coachbox.certificates import service
from coachbox.store import certificates as store
from tests.certificates import seed
from tests.certificates.conftest import needs_poppler


def pdf_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True).stdout
    # pdftotext wraps right-to-left runs in embedding marks; they are not part of the name.
    return text.decode("utf-8").replace("\u202b", "").replace("\u202c", "")


def qr_texts(path: Path, tmp_path: Path) -> list[str]:
    import zxingcpp
    from PIL import Image

    prefix = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", str(path), str(prefix)], check=True)
    return [result.text for result in zxingcpp.read_barcodes(Image.open(f"{prefix}.png"))]


@needs_poppler
def test_it_issues_a_certificate_with_name_course_score_code_and_a_qr_to_the_verify_page(
    services, conn, courses, tmp_path
):
    learner = seed.add_learner(conn, name="Zoë Wanjirũ Müller")
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=85)

    issued = service.issue_certificate(services, learner, courses["mobile-money-safety"])

    assert issued.created
    code = issued.certificate.code
    path = services.settings.data_dir / "certificates" / f"{code}.pdf"
    assert issued.certificate.path == f"certificates/{code}.pdf" and path.is_file()
    text = pdf_text(path)
    for expected in (
        "Zoë Wanjirũ Müller",
        "Mobile Money Safety",
        "Tumaini Learning Centre",
        code,
        "85%",
        "2 March 2026",
        "Certificate of completion",
    ):
        assert expected in text
    assert qr_texts(path, tmp_path) == [f"https://learn.example.org/verify/{code}"]


@needs_poppler
def test_it_writes_the_certificate_in_the_learners_language(services, conn, courses):
    learner = seed.add_learner(conn, name="Baraka Otieno", language="sw")
    seed.finish_course(conn, learner, courses["mobile-money-safety-sw"], score=90)

    issued = service.issue_certificate(services, learner, courses["mobile-money-safety-sw"])

    text = pdf_text(services.settings.data_dir / issued.certificate.path)
    for expected in ("Cheti cha Kuhitimu", "Baraka Otieno", "Usalama wa Pesa za Simu", "2 Machi 2026", "90%"):
        assert expected in text
    message = seed.outbox(conn, learner, "certificate")[0]
    assert message["body"].startswith("🎉 Hongera, Baraka!")


def test_it_issues_once_per_learner_and_course(services, conn, courses):
    learner = seed.add_learner(conn)
    seed.finish_course(conn, learner, courses["python-basics"], score=60)

    first = service.issue_certificate(services, learner, courses["python-basics"])
    again = service.issue_certificate(services, learner, courses["python-basics"])

    assert first.created and not again.created
    assert again.certificate.code == first.certificate.code
    assert conn.execute("SELECT COUNT(*) FROM certificates").fetchone()[0] == 1
    assert len(seed.outbox(conn, learner, "certificate")) == 1
    assert sorted(p.name for p in (services.settings.data_dir / "certificates").iterdir()) == [
        f"{first.certificate.code}.pdf"
    ]


def test_it_sends_the_pdf_as_media_with_a_congratulation(services, conn, courses):
    learner = seed.add_learner(conn, name="Amina Wanjiru", phone="+254711222333")
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=100)

    issued = service.issue_certificate(services, learner, courses["mobile-money-safety"])

    [message] = seed.outbox(conn, learner, "certificate")
    assert message["id"] == issued.message_id
    assert json.loads(message["media"]) == [f"certificates/{issued.certificate.code}.pdf"]
    assert message["address"] == "whatsapp:+254711222333" and message["status"] == "queued"
    assert "Congratulations, Amina!" in message["body"] and "*Mobile Money Safety*" in message["body"]
    assert f"https://learn.example.org/verify/{issued.certificate.code}" in message["body"]
    assert message["template_key"] == "certificate"


@pytest.mark.parametrize(
    "status, score, reason",
    [
        ("active", 95, "not_completed"),
        ("completed", 69, "below_passing"),
        (None, None, "not_enrolled"),
    ],
)
def test_it_certifies_only_completed_courses_at_the_passing_score(services, conn, courses, status, score, reason):
    learner = seed.add_learner(conn)
    if status:
        seed.finish_course(conn, learner, courses["mobile-money-safety"], score=score, status=status)

    issued = service.issue_certificate(services, learner, courses["mobile-money-safety"])

    assert issued.certificate is None and not issued.created
    assert issued.eligibility.reason == reason and issued.eligibility.passing_score == 70
    assert conn.execute("SELECT COUNT(*) FROM certificates").fetchone()[0] == 0
    assert seed.outbox(conn, learner) == []


def test_it_scores_from_quiz_progress_when_the_enrollment_has_no_score(conn, courses):
    learner = seed.add_learner(conn)
    seed.finish_course(conn, learner, courses["python-basics"], score=None)
    lessons = [r[0] for r in conn.execute("SELECT id FROM lessons WHERE course_id = ?", (courses["python-basics"],))]
    for lesson in lessons[:2]:
        conn.execute(
            "INSERT INTO progress (learner_id, lesson_id, correct, total) VALUES (?, ?, 3, 5)", (learner, lesson)
        )

    verdict = service.eligibility(conn, learner, courses["python-basics"])

    assert (verdict.eligible, verdict.score, verdict.passing_score) == (True, 60, 60)


def test_it_certifies_a_learner_who_passed_every_lesson_at_two_of_three(conn, courses):
    """67 % overall is below a 70 % mark, but every lesson was passed by the same rule: the course is passed."""
    learner = seed.add_learner(conn)
    course = courses["mobile-money-safety"]
    seed.finish_course(conn, learner, course, score=67)
    lessons = [r[0] for r in conn.execute("SELECT id FROM lessons WHERE course_id = ?", (course,))]
    for lesson in lessons:
        conn.execute(
            "INSERT INTO progress (learner_id, lesson_id, correct, total, passed) VALUES (?, ?, 2, 3, 1)",
            (learner, lesson),
        )
    assert service.eligibility(conn, learner, course).eligible
    conn.execute("UPDATE progress SET passed = 0, correct = 1 WHERE lesson_id = ?", (lessons[0],))
    assert service.eligibility(conn, learner, course).reason == "below_passing"


def test_it_resends_the_newest_valid_certificate_and_draws_a_lost_file_again(services, conn, courses):
    learner = seed.add_learner(conn)
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=80)
    issued = service.issue_certificate(services, learner, courses["mobile-money-safety"])
    path = services.settings.data_dir / issued.certificate.path
    path.unlink()  # e.g. a restored backup without the certificates folder

    resent = service.resend_certificate(services, learner, request_key="in:42")
    service.resend_certificate(services, learner, request_key="in:42")  # the same inbound again: no second message

    assert resent.code == issued.certificate.code and path.is_file()
    messages = seed.outbox(conn, learner, "certificate")
    assert len(messages) == 2
    assert "again" in messages[1]["body"] and json.loads(messages[1]["media"]) == [issued.certificate.path]


def test_it_does_not_resend_revoked_certificates(services, conn, courses):
    learner = seed.add_learner(conn)
    assert service.resend_certificate(services, learner) is None
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=80)
    issued = service.issue_certificate(services, learner, courses["mobile-money-safety"])

    assert service.revoke(services, issued.certificate.code.lower(), reason="copied answers")

    assert service.resend_certificate(services, learner) is None


def test_it_lists_and_revokes_certificates_for_the_admin_page(services, conn, courses, clock):
    alice = seed.add_learner(conn, name="Alice Achieng", phone="+254700000011")
    bob = seed.add_learner(conn, name="Bob Kamau", phone="+254700000012")
    for learner in (alice, bob):
        seed.finish_course(conn, learner, courses["mobile-money-safety"], score=90)
    codes = {}
    for learner in (alice, bob):
        codes[learner] = service.issue_certificate(services, learner, courses["mobile-money-safety"]).certificate.code
        clock.advance(minutes=1)

    assert store.revoke_certificate(conn, codes[bob], now=clock.now(), admin_id=None, reason="duplicate")
    assert not store.revoke_certificate(conn, codes[bob], now=clock.now())  # already revoked
    assert not store.revoke_certificate(conn, "ZZZZ-ZZZZ", now=clock.now())

    assert [c.learner_name for c in store.list_certificates(conn)] == ["Bob Kamau", "Alice Achieng"]
    assert [c.code for c in store.list_certificates(conn, status="valid")] == [codes[alice]]
    assert [c.revoke_reason for c in store.list_certificates(conn, status="revoked")] == ["duplicate"]
    assert [c.code for c in store.list_certificates(conn, search="achieng")] == [codes[alice]]
    assert [c.code for c in store.list_certificates(conn, search=codes[bob][:4])] == [codes[bob]]
    assert store.list_certificates(conn, search="%") == []
    assert store.count_certificates(conn) == {"valid": 1, "revoked": 1}
    audit = conn.execute("SELECT action, target FROM audit_log").fetchall()
    assert [tuple(a) for a in audit] == [("certificate.revoke", f"certificate:{codes[bob]}")]


def test_it_issues_and_resends_through_the_worker_tasks(services, conn, courses, settings):
    from coachbox.certificates.tasks import register
    from coachbox.jobs.tasks import WorkerContext

    tasks = register(services.huey, WorkerContext(settings, services))
    learner = seed.add_learner(conn)
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=75)

    code = tasks["certificates.issue"](learner, courses["mobile-money-safety"])()
    asked_again = tasks["certificates.issue"](learner, courses["mobile-money-safety"])  # the CERTIFICATE command
    resent = tasks["certificates.resend"](learner, None, "in:7")()

    assert code and asked_again() == code and resent == code
    bodies = [m["body"] for m in seed.outbox(conn, learner, "certificate")]
    assert len(bodies) == 3 and "Congratulations" in bodies[0] and "again" in bodies[1] and "again" in bodies[2]
    service.issue_certificate(
        services, learner, courses["mobile-money-safety"], resend_key=f"task:{asked_again.id}"
    )  # Huey retrying that same task
    assert len(seed.outbox(conn, learner, "certificate")) == 3


def test_it_makes_unambiguous_codes_and_forgives_typing():
    codes = {certificate_codes.new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == 9 and code[4] == "-" and not set(code) & set("ILOU")
    assert certificate_codes.normalise_code(" k7qm 3xpa ") == "K7QM-3XPA"
    assert certificate_codes.normalise_code("k7qm-3xpa") == "K7QM-3XPA"
    assert certificate_codes.normalise_code("1O1L-OOOO") == "1011-0000"


def test_it_settles_the_conversations_request_and_sweeps_up_lost_tasks(services, conn, courses, settings, clock):
    from coachbox.certificates.tasks import register
    from coachbox.jobs.tasks import WorkerContext
    from coachbox.store import progress

    tasks = register(services.huey, WorkerContext(settings, services))
    learner = seed.add_learner(conn)
    seed.finish_course(conn, learner, courses["mobile-money-safety"], score=75)
    progress.request(conn, learner, kind="certificate", key=str(courses["mobile-money-safety"]), now=clock.now())

    assert tasks["certificates.sweep"].call_local() == 0  # too fresh: its own task is probably on the way
    clock.advance(minutes=3)
    assert tasks["certificates.sweep"].call_local() == 1
    assert tasks["certificates.sweep"].call_local() == 0

    assert conn.execute("SELECT status FROM deliveries WHERE kind = 'certificate'").fetchone()[0] == "done"
    assert len(seed.outbox(conn, learner, "certificate")) == 1
