"""E-mail over SMTP ([smtp] settings): plain-text notices to teachers (the inbox's "a learner waits")."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from coachbox.core.config import SmtpSettings

TIMEOUT_SECONDS = 15.0


class MailError(Exception):
    """The mail server refused or could not be reached; the message says which server and why."""


def send_mail(smtp: SmtpSettings, to: list[str], subject: str, body: str) -> None:
    """Send one plain-text e-mail to `to` through [smtp] (STARTTLS on 587 when set, TLS from the start on 465)."""
    sender = smtp.from_address or smtp.username
    if not smtp.host or not sender:
        raise MailError("set [smtp] host and from_address (or username) to send e-mail")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), subject
    message.set_content(body)
    try:
        if smtp.port == 465:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_SECONDS)
        with client:
            if smtp.starttls and smtp.port != 465:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc
