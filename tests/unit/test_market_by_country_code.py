"""market_of() answers single-market country codes without a parse: it must agree with the full parse everywhere."""

from __future__ import annotations

import random

from coachbox.core.costs import _parsed_market, market_of, single_region


def test_the_country_code_shortcut_agrees_with_phonenumbers():
    rng = random.Random(15)
    numbers = [
        "+" + str(rng.randint(1, 999)) + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(5, 11)))
        for _ in range(3000)
    ]
    assert [market_of(n) for n in numbers] == [_parsed_market(n) for n in numbers]
    assert market_of("whatsapp:+254712345678") == "KE" and market_of("sim:+254712345678") is None


def test_shared_codes_are_left_to_the_parse():
    assert single_region("254712345678") == "KE"
    assert single_region("14155238886") is None  # +1: the US, Canada and the Caribbean
    assert single_region("447700900123") is None  # +44: the UK, Guernsey, Jersey, the Isle of Man
    assert market_of("+14155238886") == "US" and market_of("+16135550123") == "CA"
