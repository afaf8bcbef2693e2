"""core.hours: office hours parsed, "open now?", "opens when?", and the config error that names the key."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from coachbox.core.config import ConfigError, Settings
from coachbox.core.hours import parse
from tests.conftest import REPO

NAIROBI = ZoneInfo("Africa/Nairobi")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NAIROBI)


def test_it_reads_ranges_lists_and_several_spans():
    hours = parse("Mon-Fri 08:00-16:00; sat,sun 9:30-12:00")
    assert hours.spans[0].days == (0, 1, 2, 3, 4) and hours.spans[0].start == time(8)
    assert hours.spans[1].days == (5, 6) and hours.spans[1].start == time(9, 30)
    assert parse("fri-mon 08:00-10:00").spans[0].days == (0, 4, 5, 6)  # across the week's end


def test_it_knows_when_it_is_open_and_when_it_opens_next():
    hours = parse("mon-fri 08:00-16:00")
    assert hours.is_open(at("2026-03-02T08:00"))  # Monday, the first minute
    assert not hours.is_open(at("2026-03-02T16:00"))  # the end is excluded
    assert hours.next_opening(at("2026-03-02T05:00")) == at("2026-03-02T08:00")
    assert hours.next_opening(at("2026-03-02T18:00")) == at("2026-03-03T08:00")
    assert hours.next_opening(at("2026-03-06T18:00")) == at("2026-03-09T08:00")  # Friday evening: Monday


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("weekdays 8-4", "is not like"),
        ("mon-fry 08:00-16:00", "'fry' in"),
        ("mon-fri 16:00-08:00", "must end after they start"),
        ("mon-fri 08:00-25:00", "is not a time of day"),
        ("", "no office hours given"),
    ],
)
def test_a_value_it_cannot_read_stops_the_box_naming_the_key(value, said):
    with pytest.raises(ConfigError, match=rf"handover\.office_hours: .*{said}"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_HANDOVER_OFFICE_HOURS": value})
