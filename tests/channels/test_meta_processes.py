"""Meta's outbox across real processes: kill -9 in the middle of a drain loses and doubles nothing.

The Cloud API has no idempotency key and no listing of sent messages, so a dead sender's claims are settled by the
status webhooks Meta posts for what it took (each tagged with our row id): this test applies them as
POST /webhooks/meta does, then starts the next drain after the settle window."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest

from coachbox.channels.meta.status import apply_statuses
from coachbox.channels.meta.transport import MetaChannel
from coachbox.channels.meta.webhook import MetaStatus
from tests.channels.test_outbox_processes import DRAIN, _fill
from tests.conftest import REPO, clock_environ
from tests.doubles.meta_double import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, MetaDouble

pytestmark = pytest.mark.slow


@pytest.fixture
def double():
    started = MetaDouble().start()
    yield started
    started.stop()


def _environ(settings, double: MetaDouble, instant) -> dict:
    return {
        **os.environ,
        **clock_environ(instant),
        "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
        "COACHBOX_PATHS_DATA_DIR": str(settings.data_dir),
        "COACHBOX_LOG_LEVEL": "ERROR",
        "COACHBOX_META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "COACHBOX_META_ACCESS_TOKEN": ACCESS_TOKEN,
        "COACHBOX_META_APP_SECRET": APP_SECRET,
        "COACHBOX_META_API_BASE_URL": double.url,
        "COACHBOX_META_MESSAGES_PER_SECOND": "300",
        "COACHBOX_SERVER_PUBLIC_URL": "https://coach.example.org",
    }


def _spawn(environ: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRAIN], cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_it_delivers_exactly_once_after_kill_9_in_the_middle_of_a_drain(settings, conn, clock, double):
    ids = _fill(conn, clock.now(), learners=100, per_learner=4)  # 400 messages, four per learner (kept in order)
    victim = _spawn(_environ(settings, double, clock.now()))
    deadline = time.monotonic() + 30
    while len(double.sent) < 150:
        assert victim.poll() is None, victim.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    in_flight = conn.execute("SELECT COUNT(*) FROM messages WHERE status = 'sending'").fetchone()[0]
    # Meta's "sent" statuses for everything it took arrive (some for rows the dead sender never marked sent).
    statuses = [MetaStatus(s.wamid, "sent", message_id=int(s.tag)) for s in double.sent]
    apply_statuses(conn, statuses, clock.now().isoformat())
    # The worker's next drain, after the settle window: what is still claimed never reached Meta.
    later = clock.now() + timedelta(seconds=MetaChannel.status_settle_seconds + 5)
    survivor = _spawn(_environ(settings, double, later))
    out, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err
    tags = Counter(s.tag for s in double.sent)
    assert set(tags) == {str(i) for i in ids}  # nothing lost
    assert double.duplicates() == {}  # nothing doubled
    states = Counter(r[0] for r in conn.execute("SELECT status FROM messages WHERE direction = 'out'"))
    assert states == {"sent": 400}
    assert {r[0] for r in conn.execute("SELECT provider_sid FROM messages")} == {s.wamid for s in double.sent}
    order: dict[str, list[int]] = {}
    for s in sorted(double.sent, key=lambda s: s.at):
        order.setdefault(s.to, []).append(int(s.tag))
    assert all(seq == sorted(seq) for seq in order.values())
    print(f"kill -9 left {in_flight} rows 'sending'; all settled by statuses or resent once")


def test_a_dead_senders_claim_waits_for_statuses_before_a_resend(settings, conn, clock, double):
    """A claim that is stale stays claimed for the settle window (a status may still say Meta took it), then is
    released for a resend; a status in the window marks it sent instead."""
    import asyncio

    from coachbox.channels.reconcile import reconcile
    from coachbox.jobs.queue import create_huey
    from coachbox.roots.services import build_services
    from tests.doubles.meta_fixtures import meta_settings_for

    first, second = _fill(conn, clock.now(), learners=2, per_learner=1)
    for message_id in (first, second):
        conn.execute(
            "UPDATE messages SET status = 'sending', claimed_by = 'elsewhere:1:x:y', claimed_at = ? WHERE id = ?",
            (clock.now().isoformat(), message_id),
        )
    configured = meta_settings_for(settings, double.url)
    services = build_services(
        configured, clock=clock, channel=MetaChannel(configured), huey=create_huey(configured, immediate=True)
    )
    try:
        clock.advance(seconds=10)
        assert asyncio.run(reconcile(services, stale_after=5)) == 0  # stale, but statuses may still come
        apply_statuses(conn, [MetaStatus("wamid.TOOK", "sent", message_id=first)], clock.now().isoformat())
        clock.advance(seconds=MetaChannel.status_settle_seconds)
        assert asyncio.run(reconcile(services, stale_after=5)) == 1  # only the one no status came for
        states = dict(conn.execute("SELECT id, status FROM messages WHERE id IN (?, ?)", (first, second)).fetchall())
        assert states == {first: "sent", second: "retry"}  # released: sent again on the next drain
    finally:
        services.close_sync()
