"""The client's address: the socket peer, or behind [server] trusted_proxies the right-most untrusted hop."""

from __future__ import annotations

import pytest

from coachbox.core.addresses import client_address, parse_networks


def test_it_ignores_forwarded_for_when_no_proxy_is_trusted():
    assert client_address("203.0.113.9", ["196.201.214.200"], "") == "203.0.113.9"


def test_it_ignores_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy():
    assert client_address("203.0.113.9", ["196.201.214.200"], "127.0.0.1") == "203.0.113.9"


def test_it_takes_the_right_most_untrusted_hop_not_the_forged_left_most():
    # The client sent "X-Forwarded-For: 196.201.214.200"; our proxy appended the address it saw.
    assert client_address("127.0.0.1", ["196.201.214.200, 203.0.113.9"], "127.0.0.1") == "203.0.113.9"


def test_it_skips_every_trusted_hop_and_reads_every_header_line():
    forwarded = ["6.6.6.6, 198.51.100.4", "10.1.2.3"]  # CDN-appended client, then our inner proxy
    assert client_address("10.0.0.1", forwarded, "10.0.0.0/8, 127.0.0.1") == "198.51.100.4"


def test_it_falls_back_to_the_left_most_when_every_hop_is_trusted():
    assert client_address("127.0.0.1", ["10.0.0.5, 127.0.0.1"], "127.0.0.1, 10.0.0.0/8") == "10.0.0.5"
    assert client_address("127.0.0.1", [], "127.0.0.1") == "127.0.0.1"


def test_it_understands_ipv6_and_ports():
    assert client_address("::1", ["[2001:db8::7]:4711"], "::1") == "2001:db8::7"
    assert client_address("::1", ["203.0.113.9:4711"], "::1") == "203.0.113.9"


def test_it_names_a_bad_entry():
    assert [str(n) for n in parse_networks(" 127.0.0.1 , 10.0.0.0/8,")] == ["127.0.0.1/32", "10.0.0.0/8"]
    with pytest.raises(ValueError, match="proxy.local"):
        parse_networks("127.0.0.1, proxy.local")
