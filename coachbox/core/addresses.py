"""Who is calling: the client's address from the socket peer and X-Forwarded-For, given [server] trusted_proxies.

Proxies append to X-Forwarded-For, so only its right-hand end is written by machines we trust: the client is the
right-most address that is not one of our proxies. The left-most entry is whatever the client chose to send.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.1, 192.168.0.0/16, ::1' → networks; ValueError naming the first bad entry."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(entry) from None
    return tuple(networks)


@functools.lru_cache(maxsize=16)
def _networks(text: str) -> tuple[Network, ...]:
    return parse_networks(text)  # validated when the settings loaded


def _address(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    entry = entry.strip()
    if entry.startswith("[") and "]" in entry:  # [2001:db8::1]:4711
        entry = entry[1 : entry.index("]")]
    elif entry.count(":") == 1:  # 203.0.113.7:4711
        entry = entry.split(":")[0]
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        return None


def _trusted(entry: str, networks: tuple[Network, ...]) -> bool:
    address = _address(entry)
    return address is not None and any(address in network for network in networks)


def client_address(peer: str, forwarded_for: Iterable[str], trusted: str) -> str:
    """The client: the socket peer, unless it is a trusted proxy; then the right-most X-Forwarded-For entry that
    is not a trusted proxy (all of them trusted: the left-most). `forwarded_for` is every X-Forwarded-For header
    in order; `trusted` the comma-separated [server] trusted_proxies (empty: trust no one, the peer it is)."""
    networks = _networks(trusted)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            address = _address(hop)
            return str(address) if address is not None else hop[:100]
    return hops[0] if hops else peer


def client_ip(request: Any) -> str:
    """client_address for a Sanic request (the app's settings say which proxies are trusted)."""
    return client_address(
        request.ip or "",
        request.headers.getall("x-forwarded-for", []),
        request.app.ctx.settings.server.trusted_proxies,
    )
