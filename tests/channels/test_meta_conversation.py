"""A whole learner conversation over Meta's Cloud API (the Graph API double), in English and Kiswahili:
onboarding with the WhatsApp profile name, a lesson, a quiz, STOP and START. The transcript is what the learner
reads; tests/artifacts/meta_<language>_transcript.txt keeps the last one for a person to read."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachbox.channels.outbox import deliver_due
from coachbox.content.importer import import_folder
from coachbox.roots.app import create_app
from tests.doubles.meta_double import Sent
from tests.doubles.meta_fixtures import (  # noqa: F401 - fixtures
    ALICE_WA,
    button_reply,
    change,
    envelope,
    list_reply,
    message,
    meta_double,
    meta_settings,
    mservices,
    signed,
    text,
)

pytestmark = pytest.mark.anyio
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

WORDS = {
    "en": {"hi": "hi", "yes": "yes", "language": "1", "quiz": "quiz", "stop": "stop", "start": "start", "true": "true"},
    "sw": {
        "hi": "habari",
        "yes": "ndiyo",
        "language": "2",
        "quiz": "jaribio",
        "stop": "acha",
        "start": "anza",
        "true": "kweli",
    },
}


def _an_answer(question: str, words: dict) -> str:
    """An answer the question accepts (right or wrong does not matter here): a letter, or true."""
    return "a" if "*A*" in question else words["true"]


class Learner:
    """Writes to the box as Meta would deliver it (typed text, or a tap on a button or list row), and reads what the
    double received for them."""

    def __init__(self, app, double, conn):
        self.app, self.double, self.conn = app, double, conn
        self.lines: list[str] = []
        self.seen = 0

    async def say(self, words: str) -> list[Sent]:
        self.lines.append(f"learner: {words}")
        return await self._post(text(words))

    async def tap(self, sent: Sent, title: str) -> list[Sent]:
        """Tap the button or list row titled `title` on an interactive message."""
        interactive = sent.payload["interactive"]
        action = interactive["action"]
        if interactive["type"] == "button":
            choices = [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
        else:
            choices = [(r["id"], r["title"]) for section in action["sections"] for r in section["rows"]]
        reply_id = next(i for i, t in choices if t == title)
        self.lines.append(f"learner: (taps) {title}")
        shape = button_reply if interactive["type"] == "button" else list_reply
        return await self._post(shape(reply_id, title))

    async def _post(self, message: dict) -> list[Sent]:
        body, headers = signed(envelope(change([message])))
        _, response = await self.app.asgi_client.post("/webhooks/meta", content=body, headers=headers)
        assert response.status == 200
        while await deliver_due(self.app.ctx.services):
            pass
        sent = self.double.sent_to(ALICE_WA)
        new, self.seen = sent[self.seen :], len(sent)
        for item in new:
            self.lines.append("  bot: " + item.text.replace("\n", "\n       "))
            if item.type == "interactive":
                self.lines.append("       " + "  ".join(f"[{t}]" for t in _titles(item)))
        return new


def _titles(sent: Sent) -> list[str]:
    action = sent.payload["interactive"]["action"]
    if "buttons" in action:
        return [b["reply"]["title"] for b in action["buttons"]]
    return [
        r["title"] + (f" ({r['description']})" if r.get("description") else "")
        for s in action["sections"]
        for r in s["rows"]
    ]


@pytest.fixture
def learner(meta_settings, mservices, conn, meta_double):
    import_folder(conn, meta_settings.content_dir, meta_settings, progress=None)
    app = create_app(meta_settings, mservices)
    return Learner(app, meta_double, conn)


@pytest.mark.parametrize("language", ["en", "sw"])
async def test_a_whole_conversation_runs_over_the_cloud_api(learner, conn, clock, language):
    words = WORDS[language]
    welcome = await learner.say(words["hi"])
    assert "Amina Wanjiru" in welcome[-1].text  # contacts[].profile.name offered at onboarding
    languages = await learner.say(words["yes"])
    assert languages[-1].type == "interactive"  # the language menu: buttons named after the languages
    assert _titles(languages[-1]) == ["English", "Kiswahili"]
    courses = await learner.tap(languages[-1], "English" if language == "en" else "Kiswahili")
    assert courses[-1].type == "interactive"
    await learner.tap(courses[-1], _first_title(courses[-1]))
    lesson = await learner.say("7")  # lessons at 07:00; the first lesson comes at once
    assert len(lesson) >= 2
    # Lean days: question 1 comes with the lesson, in a message of its own short enough for its reply buttons.
    assert lesson[-1].type == "interactive" and _titles(lesson[-1]) == ["A", "B", "C"]
    clock.advance(minutes=5)
    question = lesson
    for _ in range(3):  # lesson 1 has three questions: choice and true/false as buttons, the last one typed
        last = question[-1]
        if last.type == "interactive":
            question = await learner.tap(last, _titles(last)[0])
        else:
            question = await learner.say(_an_answer(last.text, words))
    assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 3
    goodbye = await learner.say(words["stop"])
    assert goodbye and conn.execute("SELECT opted_out FROM learners").fetchone()[0] == 1
    back = await learner.say(words["start"])
    assert back and conn.execute("SELECT opted_out FROM learners").fetchone()[0] == 0
    # Things it cannot read get a polite word, a reaction none at all.
    learner.lines.append("learner: (shares a location)")
    place = await learner._post(message("location", location={"latitude": -1.28, "longitude": 36.8, "name": "Home"}))
    assert len(place) == 1 and place[0].type == "text"
    learner.lines.append("learner: (reacts 👍)")
    assert await learner._post(message("reaction", reaction={"message_id": back[-1].wamid, "emoji": "👍"})) == []
    # Every message went once, through the Graph API, and every inbound wamid was recorded once.
    assert learner.double.duplicates() == {}
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status != 'sent'").fetchone()[0] == 0
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"meta_{language}_transcript.txt").write_text("\n".join(learner.lines) + "\n", encoding="utf-8")


def _first_title(sent: Sent) -> str:
    action = sent.payload["interactive"]["action"]
    if "buttons" in action:
        return action["buttons"][0]["reply"]["title"]
    return action["sections"][0]["rows"][0]["title"]
