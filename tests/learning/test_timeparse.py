"""Lesson times as learners type them, and time zones from phone numbers."""

from datetime import UTC, datetime, timezone

import pytest

from coachbox.learning.timeparse import find_timezone, next_local_time, parse_lesson_time, timezone_for_phone


@pytest.mark.parametrize(
    "text,expected",
    [
        ("7", "07:00"),
        ("7:30", "07:30"),
        ("07:30", "07:30"),
        ("7pm", "19:00"),
        ("7 PM", "19:00"),
        ("19:00", "19:00"),
        ("7.30am", "07:30"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("0", "00:00"),
    ],
)
def test_it_parses_lesson_times(text, expected):
    assert parse_lesson_time(text) == expected


@pytest.mark.parametrize("text", ["", "25", "7:75", "13pm", "seven", "saa mbili", "7:3"])
def test_it_refuses_what_is_not_a_time(text):
    assert parse_lesson_time(text) is None


def test_it_takes_the_time_zone_from_the_phone_number():
    assert timezone_for_phone("+254712345678", "UTC") == "Africa/Nairobi"
    assert timezone_for_phone("+256772123456", "UTC") == "Africa/Kampala"
    assert timezone_for_phone("+255712345678", "UTC") == "Africa/Dar_es_Salaam"
    assert timezone_for_phone("not a number", "Africa/Nairobi") == "Africa/Nairobi"
    assert timezone_for_phone(None, "Africa/Nairobi") == "Africa/Nairobi"


def test_it_recognises_typed_time_zones():
    assert find_timezone("africa/kampala") == "Africa/Kampala"
    assert find_timezone("Mars/Olympus") is None


def test_it_finds_the_next_local_lesson_time():
    now = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 08:00 in Nairobi
    assert next_local_time(now, "Africa/Nairobi", "07:00").isoformat() == "2026-03-03T04:00:00+00:00"
    assert next_local_time(now, "Africa/Nairobi", "19:00").isoformat() == "2026-03-02T16:00:00+00:00"
