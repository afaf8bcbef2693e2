"""Clocks: the system clock in production, COACHBOX_TEST_NOW's clock for processes a test starts, the fake one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from coachbox.core.clock import (
    TEST_NOW_VARIABLE,
    FakeClock,
    OffsetClock,
    SystemClock,
    clock_from_environment,
    encode_test_now,
    parse_test_now,
)
from coachbox.core.config import ConfigError

NIGHT = datetime(2026, 3, 2, 20, 30, tzinfo=UTC)  # 23:30 in Nairobi


def test_it_uses_the_system_clock_unless_the_test_variable_is_set():
    assert isinstance(clock_from_environment({}), SystemClock)
    assert isinstance(clock_from_environment({TEST_NOW_VARIABLE: " "}), SystemClock)
    assert isinstance(clock_from_environment({TEST_NOW_VARIABLE: "2026-03-02T20:30:00+00:00"}), OffsetClock)


def test_it_starts_at_the_given_instant_and_runs_forward_in_real_time():
    clock = clock_from_environment({TEST_NOW_VARIABLE: "2026-03-02T23:30:00+03:00"})
    first = clock.now()
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
    assert timedelta(0) <= first - NIGHT < timedelta(seconds=1)
    time.sleep(0.05)
    assert clock.now() - first >= timedelta(seconds=0.05)


def test_processes_given_the_same_value_agree_whenever_they_make_their_clock():
    value = encode_test_now(NIGHT, anchor=time.time() - 60)  # set a minute ago, e.g. by the test that spawned us
    early = clock_from_environment({TEST_NOW_VARIABLE: value})
    time.sleep(0.05)
    late = clock_from_environment({TEST_NOW_VARIABLE: value})
    assert abs(late.now() - early.now()) < timedelta(milliseconds=20)
    assert timedelta(seconds=60) <= late.now() - NIGHT < timedelta(seconds=61)
    assert parse_test_now(value)[0] == NIGHT


@pytest.mark.parametrize(
    "value",
    [
        "tonight",
        "2026-03-02T20:30:00",
        "2026-03-02 25:00+00:00",
        "2026-03-02T20:30:00+00:00@soon",
        "2026-03-02T20:30:00+00:00@",
        "@1772483400",
    ],
)
def test_it_refuses_a_malformed_value_naming_the_variable_and_the_format(value):
    with pytest.raises(ConfigError) as caught:
        clock_from_environment({TEST_NOW_VARIABLE: value})
    message = str(caught.value)
    assert TEST_NOW_VARIABLE in message and repr(value) in message and "ISO-8601 instant with a UTC offset" in message


def test_the_fake_clock_moves_only_when_told():
    clock = FakeClock("2026-03-02T08:00:00+03:00")
    assert clock.now() == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert clock.advance(minutes=90) == datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    assert clock.set(NIGHT) == NIGHT == clock.now()
    with pytest.raises(ValueError, match="no UTC offset"):
        FakeClock("2026-03-02T05:00:00")
