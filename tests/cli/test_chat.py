"""`coachbox chat` shows everything the box sends its learner, when it is sent, not only each line's replies.

The real path: run_chat on the box's SQLite file, diskcache and Huey queue in data/, with its own consumer threads
(no worker started elsewhere), the tutor's model answered by a local OpenAI-compatible double, and the box's clock
a fake one the test moves. The scheduled jobs are enqueued on that queue by the test, as Huey's scheduler would
every minute of the real time.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from coachbox.cli.chat import run_chat
from coachbox.content.importer import import_folder
from coachbox.core.config import Settings
from coachbox.core.errors import UserError
from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import register
from tests.conftest import DAYTIME, REPO
from tests.tutor.openai_double import OpenAIDouble

PHONE = "+254712345678"


@pytest.fixture
def double():
    with OpenAIDouble() as server:
        yield server
    server.thread.join(5)


@pytest.fixture
def settings(tmp_path: Path, double: OpenAIDouble) -> Settings:
    """The box's settings with the tutor's model pointed at the double."""
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content"),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_AI_BASE_URL": double.base_url,
        "COACHBOX_AI_API_KEY": "test-key",
        "COACHBOX_AI_MODEL": "tiny-tutor",
        "COACHBOX_LEARNING_LEAN_DAYS": "false",  # the quiz invitation and the follow-up quiz this test waits for
    }
    return Settings.load(REPO / "coachbox.toml", environ)


class _Screen:
    """The chat's stdout, read by the test while the chat writes to it from its own thread."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        return None

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def wait_for(self, wanted: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while wanted not in (seen := self.text()):
            assert time.monotonic() < deadline, f"{wanted!r} never showed; the chat shows:\n{seen}"
            time.sleep(0.02)
        return seen


@pytest.mark.at(DAYTIME)  # Monday 08:00 in Nairobi: proactive messages go out, not held for quiet hours
def test_it_shows_the_tutors_answer_the_follow_up_quiz_and_the_next_lesson_as_they_are_sent(
    settings, conn, clock, double
):
    import_folder(conn, settings.content_dir, settings, progress=None)
    threads_before = set(threading.enumerate())
    read_end, write_end = os.pipe()
    stdin, keyboard = os.fdopen(read_end, "r", encoding="utf-8"), os.fdopen(write_end, "w", encoding="utf-8")
    screen = _Screen()
    exit_codes: list[int] = []

    def chat() -> None:
        exit_codes.append(
            run_chat(
                settings,
                phone=PHONE,
                profile_name="Amina Wanjiru",
                stdin=stdin,
                stdout=screen,
                clock=clock,
                periodic=False,
            )
        )

    def say(line: str) -> None:
        keyboard.write(line + "\n")
        keyboard.flush()

    # What Huey's scheduler does every minute: enqueue the periodic jobs on the box's queue (here from "another
    # process": a Huey of its own on the same file). The chat's consumer threads run them.
    queue = create_huey(settings)
    jobs = register(queue, settings).extra
    running = threading.Thread(target=chat, name="test-chat")
    running.start()
    try:
        for line in ("hi", "yes", "1", "1", "7"):
            say(line)
        screen.wait_for("I'll send it in 30 minutes")

        say("ask is Airtel Money safe too?")
        screen.wait_for("the answer comes in a moment")
        # The tutor's answer: a task on the queue, run by the chat's own worker, without a second command. Piped
        # input waits for it before the next line: the line's block ends with it (and a blank line).
        screen.wait_for(f"{double.answer}\n\n")
        assert len(double.chat_requests()) == 1

        # Half an hour later the follow-up quiz, made by the scheduler's job, shows without the learner writing.
        clock.advance(minutes=31)
        jobs["quiz_followups"]()
        screen.wait_for("⏰ Time for your quiz on *What is mobile money?*")

        # The next morning at lesson time (07:00 in Nairobi): the daily lesson.
        clock.set("2026-03-03T04:00:30+00:00")
        jobs["daily_lessons"]()
        shown = screen.wait_for("*Keep your PIN secret*")
    finally:
        keyboard.close()
        running.join(30)
        queue.storage.close()
        stdin.close()
    assert not running.is_alive() and exit_codes == [0]

    # Each message once, in the order the box sent them: the table's outbound rows are what the chat showed.
    sent = [
        row["body"]
        for row in conn.execute(
            "SELECT body FROM messages WHERE direction = 'out' AND status IN ('sent', 'delivered') ORDER BY sent_at, id"
        )
    ]
    assert sent[-3:] == [sent[-3], sent[-2], sent[-1]]
    for body in sent:
        assert shown.count(body.replace("\n", "\n   ")) == 1, body
    positions = [shown.index(body.replace("\n", "\n   ")) for body in sent]
    assert positions == sorted(positions)
    tutor = conn.execute("SELECT source, status FROM tutor_exchanges").fetchall()
    assert [tuple(row) for row in tutor] == [("llm", "answered")]

    # Every thread the chat started (consumer, writer, sender, relay timer, stdin reader) is gone.
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(5)
    assert not [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]


def test_it_refuses_to_chat_on_a_box_with_twilio_configured(settings):
    """Its learner is on the simulator channel, and its worker would send the box's real WhatsApp messages."""
    twilio = settings.replace(twilio={"account_sid": "AC123", "auth_token": "secret"})
    with pytest.raises(UserError, match="Twilio configured"):
        run_chat(twilio, phone=PHONE, stdin=io.StringIO("hi\n"), stdout=io.StringIO())
    assert not twilio.db_path.exists()  # nothing written
