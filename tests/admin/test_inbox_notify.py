"""Telling teachers that learners wait ([inbox] notify): e-mail through a local SMTP double and a WhatsApp notice
in the outbox, once per conversation, gathered into one notice per teacher, never two rounds within the gap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.core.config import ConfigError, Settings
from coachbox.schedule.inbox_notify import notify_waiting
from coachbox.store import handover, transaction
from tests.admin.conftest import add_learner
from tests.conftest import REPO
from tests.doubles.smtp_double import SmtpDouble
from tests.doubles.twilio_fixtures import tservices, twilio_double, twilio_settings  # noqa: F401 - fixtures


@pytest.fixture
def smtp():
    double = SmtpDouble().start()
    yield double
    double.stop()


@pytest.fixture
def notifying(services, smtp):
    services.settings = services.settings.replace(
        inbox={
            "notify": "email,whatsapp",
            "duty_email": "duty@school.test",
            "duty_whatsapp": "+254722000111",
            "notify_gap_minutes": 10,
        },
        smtp={
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "box",
            "password": "pw",
            "starttls": False,
            "from_address": "coach@school.test",
        },
    )
    return services


def _open(conn, learner_id, now, reason="asked"):
    with transaction(conn):
        return handover.open_handover(conn, learner_id, reason, now, detail="TEACHER")


def _notices(conn):
    return conn.execute("SELECT address, body, kind, learner_id FROM messages WHERE kind = 'inbox_notice'").fetchall()


def test_each_conversation_is_told_once_gathered_per_teacher(notifying, cast, conn, clock, smtp):
    now = clock.now()
    amina = add_learner(conn, name="Amina", cohort="Form 2")
    baraka = add_learner(conn, name="Baraka", phone="+254700000002")
    assigned = _open(conn, amina, now)
    _open(conn, baraka, now, "safeguarding")
    with transaction(conn):
        handover.assign_handover(conn, assigned, cast["bob@school.test"], now, cast["bob@school.test"])

    report = notify_waiting(notifying)
    assert (report.told, report.emails, report.whatsapp) == (2, 2, 1)
    by_to = {r.recipients[0]: r for r in smtp.received}
    assert set(by_to) == {"bob@school.test", "duty@school.test"}
    assert by_to["bob@school.test"].login == "box" and by_to["bob@school.test"].sender == "coach@school.test"
    assert by_to["bob@school.test"].message["Subject"] == "1 learner waiting in the inbox"
    assert "Amina (Form 2): asked for a teacher" in by_to["bob@school.test"].message.get_content()
    assert by_to["duty@school.test"].message["Subject"].startswith("Safeguarding: ")
    [notice] = _notices(conn)  # one WhatsApp notice to the teacher on duty, about both
    assert notice["address"] == "whatsapp:+254722000111" and notice["learner_id"] is None
    assert "Amina" in notice["body"] and "Baraka" in notice["body"]

    assert notify_waiting(notifying).idle  # told once: nothing more
    clock.advance(minutes=11)
    assert notify_waiting(notifying).idle and len(smtp.received) == 2

    # Two new ones after the gap go together, in one e-mail to the teacher on duty.
    _open(conn, add_learner(conn, name="Chausiku", phone="+254700000003"), clock.now())
    _open(conn, add_learner(conn, name="Daudi", phone="+254700000004"), clock.now())
    report = notify_waiting(notifying)
    assert report.told == 2 and len(smtp.received) == 3
    assert "Chausiku" in smtp.received[-1].message.get_content() and "Daudi" in smtp.received[-1].message.get_content()
    _open(conn, add_learner(conn, name="Eliza", phone="+254700000005"), clock.now())
    assert notify_waiting(notifying).idle  # within 10 minutes of the last round: waits
    clock.advance(minutes=10)
    assert notify_waiting(notifying).told == 1


def test_a_refused_email_is_tried_again_next_round(notifying, conn, clock, smtp):
    notifying.settings = notifying.settings.replace(inbox={"notify": "email", "duty_email": "duty@school.test"})
    _open(conn, add_learner(conn, name="Amina"), clock.now())
    smtp.refuse = True
    report = notify_waiting(notifying)
    assert report.told == 0 and report.failed and "SMTP 127.0.0.1" in report.failed[0]
    smtp.refuse = False
    clock.advance(minutes=1)
    assert notify_waiting(notifying).emails == 1 and len(smtp.received) == 1


def test_nothing_is_sent_unless_notify_is_set(services, conn, clock, smtp):
    _open(conn, add_learner(conn, name="Amina"), clock.now())
    assert notify_waiting(services).idle and smtp.received == [] and _notices(conn) == []


def test_settings_name_what_a_notice_needs():
    with pytest.raises(ConfigError, match=r"inbox\.notify includes email but smtp\.host is empty"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_INBOX_NOTIFY": "email"})
    with pytest.raises(ConfigError, match=r"inbox\.notify: unknown way 'sms'"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_INBOX_NOTIFY": "sms"})
    with pytest.raises(ConfigError, match=r"set inbox\.duty_whatsapp"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_INBOX_NOTIFY": "whatsapp"})


@pytest.mark.anyio
async def test_the_whatsapp_notice_goes_through_the_outbox_in_the_admin_template(tservices, conn, clock, twilio_double):
    tservices.settings = tservices.settings.replace(
        inbox={"notify": "whatsapp", "duty_whatsapp": "+254722000111"}, twilio={"templates": {"admin": "HXadmin"}}
    )
    _open(conn, add_learner(conn, name="Amina"), clock.now())
    assert notify_waiting(tservices).whatsapp == 1
    while await deliver_due(tservices):
        pass
    [sent] = twilio_double.accepted  # the teacher never wrote to the box: outside any window, the template
    assert sent.to == "whatsapp:+254722000111" and sent.get("ContentSid") == "HXadmin"
    assert "Amina" in sent.get("ContentVariables")
