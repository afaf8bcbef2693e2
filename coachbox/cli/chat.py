"""`coachbox chat`: a learner's conversation in the terminal, through the same service and store as WhatsApp."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TextIO

from coachbox.channels.base import Inbound
from coachbox.channels.outbox import deliver_due
from coachbox.core.config import Settings
from coachbox.core.errors import UserError
from coachbox.core.services import Services
from coachbox.roots.services import build_services
from coachbox.store import open_database, transaction
from coachbox.store.messages import outbound_bodies
from coachbox.turns.runner import handle_inbound, resources

BOT = "🤖 "


def run_chat(
    settings: Settings,
    *,
    phone: str,
    language: str | None = None,
    profile_name: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Read lines (a prompt on a terminal; piped input prints only the bot's replies) and answer each one."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    phone = _e164(phone)
    return asyncio.run(_chat(settings, phone, language, profile_name, stdin, stdout))


def _e164(phone: str) -> str:
    digits = phone.strip().replace(" ", "").replace("-", "")
    digits = digits if digits.startswith("+") else "+" + digits
    if not digits[1:].isdigit() or not 8 <= len(digits) <= 16:
        raise UserError(f"--phone {phone!r} is not a phone number; use the international form, e.g. +254712345678.")
    return digits


async def _chat(
    settings: Settings, phone: str, language: str | None, profile_name: str | None, stdin: TextIO, stdout: TextIO
) -> int:

    open_database(settings.db_path).close()
    services = build_services(settings)
    interactive = stdin.isatty()
    address = f"sim:{phone}"
    try:
        if language:
            if not resources(services).texts.has(language):
                raise UserError(
                    f"--lang {language}: no content/locales/{language}.toml. "
                    f"Available: {', '.join(resources(services).texts.languages)}."
                )
            await services.db.run(_preset_language, address, phone, language, services.clock.now())
        if interactive:
            print(f"Chatting as {phone} on the simulator channel. Type a message; Ctrl-D to leave.", file=stdout)
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                break
            text = line.rstrip("\n")
            inbound = Inbound(
                channel="simulator",
                address=address,
                body=text,
                provider_sid=f"SIM{uuid.uuid4().hex}",
                received_at=services.clock.now(),
                phone=phone,
                profile_name=profile_name,
            )
            outcome = await handle_inbound(services, inbound)
            rows = await services.db.run(outbound_bodies, outcome.outbox_ids)
            await _mark_sent(services, outcome.outbox_ids)
            if not interactive:
                print(f"> {text}", file=stdout)
            for row in rows:
                media = f"  [media: {', '.join(row['media'])}]" if row["media"] else ""
                body = row["body"].replace("\n", "\n   ")
                print(f"{BOT}{body}{media}", file=stdout)
            print("", file=stdout)
            stdout.flush()
    finally:
        await services.aclose()
    return 0


def _preset_language(conn, address: str, phone: str, language: str, now) -> None:
    """--lang: the learner (new or not) speaks this language from the first reply on."""

    with transaction(conn):
        conn.execute(
            """INSERT INTO learners (channel_key, channel, phone, language, created_at, updated_at)
               VALUES (?, 'simulator', ?, ?, ?, ?)
               ON CONFLICT (channel_key) DO UPDATE SET language = excluded.language""",
            (address, phone, language, now.isoformat(), now.isoformat()),
        )


async def _mark_sent(services: Services, ids: list[int]) -> None:
    """Send through the outbox sender (it marks simulator rows delivered), so the transcript reads like WhatsApp."""
    if not ids:
        return
    while await deliver_due(services):
        pass
