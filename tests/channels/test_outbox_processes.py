"""The outbox across real processes: the rate cap holds for two senders, and kill -9 loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime

import pytest

from coachbox.core.clock import clock_from_environment
from coachbox.store import transaction
from coachbox.store.messages import OutboxDraft, enqueue_outbound
from tests.conftest import REPO, clock_environ
from tests.doubles.twilio_double import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble
from tests.doubles.twilio_fixtures import upsert_learner

pytestmark = pytest.mark.slow

# What a worker does on each drain tick, in a process of its own.
DRAIN = """
import asyncio
from coachbox.core.config import Settings
from coachbox.roots.services import build_services
from coachbox.channels.sender import drain

services = build_services(Settings.load())

async def main():
    try:
        print(await drain(services, seconds=60), flush=True)
    finally:
        await services.channel.close()

asyncio.run(main())
services.close_sync()
"""


@pytest.fixture
def child_clock(clock) -> dict[str, str]:
    """The drain processes' clock: from the test's instant on, running in real time (they pace real sends)."""
    return clock_environ(clock.now())


@pytest.fixture
def real_double(child_clock):
    double = TwilioDouble(now=clock_from_environment(child_clock).now).start()  # the same clock as the senders'
    yield double
    double.stop()


def _environ(settings, double: TwilioDouble, rate: float, child_clock: dict[str, str]) -> dict:
    return {
        **os.environ,
        **child_clock,
        "COACHBOX_CONFIG": str(REPO / "coachbox.toml"),
        "COACHBOX_PATHS_DATA_DIR": str(settings.data_dir),
        "COACHBOX_LOG_LEVEL": "ERROR",
        "COACHBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "COACHBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "COACHBOX_TWILIO_API_BASE_URL": double.url,
        "COACHBOX_TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "COACHBOX_TWILIO_MESSAGES_PER_SECOND": str(rate),
        "COACHBOX_SERVER_PUBLIC_URL": "https://coach.example.org",
    }


def _fill(conn, now: datetime, learners: int, per_learner: int) -> list[int]:
    ids = []
    with transaction(conn):
        for n in range(learners):
            key = f"whatsapp:+2547{n:08d}"
            learner = upsert_learner(conn, key, now=now.isoformat(), last_inbound_at=now.isoformat())
            for part in range(per_learner):
                ids.append(
                    enqueue_outbound(
                        conn,
                        learner_id=learner,
                        channel="whatsapp",
                        address=key,
                        now=now,
                        draft=OutboxDraft(body=f"message {part} for learner {n}"),
                    )
                )
    return ids


def _spawn(environ: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRAIN], cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_it_never_exceeds_the_rate_cap_with_two_processes_draining(settings, conn, clock, child_clock, real_double):
    rate = 100.0
    ids = _fill(conn, clock.now(), learners=300, per_learner=1)
    environ = _environ(settings, real_double, rate, child_clock)
    procs = [_spawn(environ), _spawn(environ)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    stamps = sorted(m.at for m in real_double.accepted)
    assert len(stamps) == len(ids)
    # Sliding one-second windows over the arrival times at the double.
    worst, j = 0, 0
    for i, start in enumerate(stamps):
        while stamps[j] < start - 1.0:
            j += 1
        worst = max(worst, i - j + 1)
    # Slots are exact (next test); arrival times at the double add the loaded loopback's jitter (a 50 ms
    # stall of the double's threads on this shared box lets a few arrivals bunch), hence the small margin.
    assert worst <= rate * 1.06 + 1, f"{worst} sends in one second with a cap of {rate}/s"
    assert stamps[-1] - stamps[0] >= (len(stamps) - 1) / rate * 0.95
    claimers = {r[0] for r in conn.execute("SELECT DISTINCT claimed_by FROM messages WHERE direction = 'out'")}
    assert len(claimers) == 2  # both processes really sent


RESERVE = """
import sys
import diskcache
from coachbox.channels.pacing import reserve_slots
cache = diskcache.Cache(sys.argv[1], timeout=60)
for _ in range(60):
    start = reserve_slots(cache, 3, 200.0)
    print(" ".join(str(start + i / 200.0) for i in range(3)), flush=True)
"""


def test_it_hands_out_rate_slots_no_closer_than_the_cap_across_processes(settings):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESERVE, str(settings.cache_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    slots = sorted(float(x) for proc in procs for x in proc.communicate(timeout=60)[0].split())
    assert len(slots) == 360
    assert min(b - a for a, b in zip(slots, slots[1:])) >= 1 / 200.0 - 1e-6


def test_it_delivers_exactly_once_after_kill_9_in_the_middle_of_a_drain(
    settings, conn, clock, child_clock, real_double
):
    ids = _fill(conn, clock.now(), learners=250, per_learner=4)  # 1,000 messages, four per learner (kept in order)
    environ = _environ(settings, real_double, 400.0, child_clock)
    victim = _spawn(environ)
    deadline = time.monotonic() + 30
    while len(real_double.accepted) < 350:
        assert victim.poll() is None, victim.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    in_flight = conn.execute("SELECT COUNT(*) FROM messages WHERE status = 'sending'").fetchone()[0]
    survivor = _spawn(environ)
    out, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err
    tags = Counter(m.tag for m in real_double.accepted)
    assert set(tags) == {str(i) for i in ids}
    assert [t for t, n in tags.items() if n > 1] == []  # nothing doubled
    statuses = Counter(r[0] for r in conn.execute("SELECT status FROM messages WHERE direction = 'out'"))
    assert statuses == {"sent": 1000}
    sids = {m.sid for m in real_double.accepted}
    assert {r[0] for r in conn.execute("SELECT provider_sid FROM messages")} == sids
    # Per learner, parts arrived in order.
    order: dict[str, list[int]] = {}
    for m in sorted(real_double.accepted, key=lambda m: m.at):
        order.setdefault(m.to, []).append(int(m.tag))
    assert all(seq == sorted(seq) for seq in order.values())
    print(f"kill -9 left {in_flight} rows 'sending'; all reconciled")
