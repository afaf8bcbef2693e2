"""Opt-out and opt-in through the real webhook and the real conversation: the STOP and START words of every
installed language work for every learner, as do Twilio's own OptOutType and error 21610, and the day's opt-out
count counts every one of them."""

from __future__ import annotations

import itertools

import pytest

from coachbox.channels.twilio.transport import TwilioChannel
from coachbox.content.importer import import_folder
from coachbox.conversation.texts import Texts
from coachbox.jobs.queue import create_huey
from coachbox.learning.grading import normalise
from coachbox.learning.timing import local_day
from coachbox.roots.app import create_app
from coachbox.roots.services import build_services
from coachbox.schedule.rollups import roll_up
from tests.doubles.twilio_fixtures import (  # noqa: F401 - fixtures
    inbound_form,
    signed_request,
    tservices,
    twilio_double,
    twilio_settings,
    twilio_settings_for,
)

pytestmark = pytest.mark.anyio
_sids = itertools.count(1)


@pytest.fixture
def real_app(twilio_settings, tservices, conn):
    """The app with the real conversation turn (not the echoing stand-in) on the sample courses."""
    import_folder(conn, twilio_settings.content_dir, twilio_settings, progress=None)
    tservices.inbound_handler = None  # the webhook falls back to coachbox.turns.runner.handle_inbound
    return create_app(twilio_settings, tservices)


def _learner(conn, phone: str, language: str) -> str:
    """An onboarded learner in the sample course; returns their WhatsApp address."""
    course = conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]
    key = f"whatsapp:{phone}"
    cursor = conn.execute(
        """INSERT INTO learners (channel_key, channel, phone, name, language, status, current_course_id,
                                 last_inbound_at, created_at, updated_at)
           VALUES (?, 'whatsapp', ?, 'Amina', ?, 'active', ?, '2026-03-01T12:00:00+00:00',
                   '2026-02-01T00:00:00+00:00', '2026-02-01T00:00:00+00:00')""",
        (key, phone, language, course),
    )
    conn.execute(
        "INSERT INTO enrollments (learner_id, course_id, started_at) VALUES (?, ?, '2026-02-01T00:00:00+00:00')",
        (cursor.lastrowid, course),
    )
    return key


async def _say(app, address: str, body: str, **extra) -> None:
    form = inbound_form(sid=f"SM{next(_sids):032d}", sender=address, body=body, **extra)
    payload, headers = signed_request("/webhooks/twilio", form)
    _, response = await app.asgi_client.post("/webhooks/twilio", content=payload, headers=headers)
    assert response.status == 200, response.text


def _opted_out(conn, address: str) -> bool:
    return bool(conn.execute("SELECT opted_out FROM learners WHERE channel_key = ?", (address,)).fetchone()[0])


def _last_reply(conn, address: str) -> str:
    return conn.execute(
        "SELECT body FROM messages WHERE address = ? AND direction = 'out' ORDER BY id DESC LIMIT 1", (address,)
    ).fetchone()[0]


async def test_stop_and_start_words_of_every_language_work_for_every_learner(real_app, conn, twilio_settings):
    texts = Texts.load(twilio_settings.content_dir / "locales")
    english = _learner(conn, "+254700000101", "en")
    swahili = _learner(conn, "+254700000102", "sw")

    await _say(real_app, english, "ACHA")  # Kiswahili for STOP, from a learner whose language is English
    assert _opted_out(conn, english)
    assert _last_reply(conn, english) == texts.t("en", "account.stopped")  # answered in their own language
    assert conn.execute("SELECT COUNT(*) FROM tutor_exchanges").fetchone()[0] == 0  # not a question for the tutor
    await _say(real_app, english, "anza")  # and back in with the Kiswahili START
    assert not _opted_out(conn, english)
    assert _last_reply(conn, english).startswith(texts.t("en", "account.started", time="07:00")[:20])

    await _say(real_app, swahili, "Stop!")  # English, with punctuation, from a Kiswahili learner
    assert _opted_out(conn, swahili)
    assert _last_reply(conn, swahili) == texts.t("sw", "account.stopped")


async def test_twilios_own_opt_out_is_an_opt_out_whatever_the_word(real_app, conn):
    """Twilio's Advanced Opt-Out may be set up with keywords no locale file has (here the French ARRET): its
    OptOutType says what it matched, and the conversation takes it as STOP instead of a question for the tutor."""
    address = _learner(conn, "+254700000103", "en")
    await _say(real_app, address, "ARRET", OptOutType="STOP")
    assert _opted_out(conn, address)
    assert conn.execute("SELECT COUNT(*) FROM tutor_exchanges").fetchone()[0] == 0
    await _say(real_app, address, "Reprendre", OptOutType="START")
    assert not _opted_out(conn, address)


async def test_the_days_opt_out_count_counts_every_way_of_opting_out(real_app, conn, clock):
    words = [_learner(conn, f"+25470000020{n}", language) for n, language in enumerate(("en", "sw", "en"))]
    await _say(real_app, words[0], "ACHA")
    await _say(real_app, words[1], "STOP.")
    await _say(real_app, words[2], "ARRET", OptOutType="STOP")
    # Error 21610 on a status callback: Twilio refused a send because the number had opted out with Twilio.
    refused = _learner(conn, "+254700000299", "en")
    learner_id = conn.execute("SELECT id FROM learners WHERE channel_key = ?", (refused,)).fetchone()[0]
    conn.execute(
        """INSERT INTO messages (learner_id, direction, channel, address, body, kind, status, provider_sid,
                                 created_at, updated_at)
           VALUES (?, 'out', 'whatsapp', ?, 'Lesson 2', 'lesson', 'sending', ?, ?, ?)""",
        (learner_id, refused, "SM" + "4" * 32, clock.now().isoformat(), clock.now().isoformat()),
    )
    message_id = conn.execute("SELECT MAX(id) FROM messages").fetchone()[0]
    form = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "failed", "ErrorCode": "21610", "To": refused}
    payload, headers = signed_request("/webhooks/twilio/status", form, query=f"m={message_id}")
    _, response = await real_app.asgi_client.post(
        f"/webhooks/twilio/status?m={message_id}", content=payload, headers=headers
    )
    assert response.status == 204 and _opted_out(conn, refused)
    await _say(real_app, words[0], "STOP")  # already out: not a second opt-out

    today = local_day(clock.now(), "Africa/Nairobi")
    roll_up(conn, today, "Africa/Nairobi")
    count = conn.execute(
        "SELECT value FROM daily_stats WHERE date = ? AND metric = 'opt_outs' AND course_id = 0", (today.isoformat(),)
    ).fetchone()[0]
    assert count == 4


async def test_a_throttled_learner_can_still_opt_out(settings, twilio_double, conn, clock):
    """Over the rate limit a message gets a polite notice, then silence; STOP (in any language) still stops us."""
    strict = twilio_settings_for(settings.replace(learning={"burst_per_minute": 2}), twilio_double.url)
    services = build_services(
        strict, clock=clock, channel=TwilioChannel(strict), huey=create_huey(strict, immediate=True)
    )
    try:
        import_folder(conn, strict.content_dir, strict, progress=None)
        app = create_app(strict, services)
        address = _learner(conn, "+254700000301", "en")
        for _ in range(4):  # two allowed, then the notice, then dropped
            await _say(app, address, "PROGRESS")
        await _say(app, address, "ACHA")
        assert _opted_out(conn, address)
    finally:
        services.close_sync()


def test_no_stop_or_start_word_of_one_language_is_another_keyword_in_any_language(settings):
    """Opt-out words work in every language and are checked first: one that is another command (or an answer)
    somewhere would silently opt learners out."""
    texts = Texts.load(settings.content_dir / "locales")
    keys = {k.removeprefix("keywords.") for table in texts.locales.values() for k in table if k.startswith("keywords.")}
    clashes = [
        (word, other, code)
        for key in ("stop", "start")
        for word in texts.all_words(key)
        for code, table in texts.locales.items()
        for other in keys - {key}
        if normalise(word) in {normalise(w) for w in table.get(f"keywords.{other}") or []}
    ]
    assert clashes == []
