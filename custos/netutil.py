"""Client address resolution: X-Forwarded-For is honoured only from configured proxies."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=1)
def _trusted_networks() -> tuple[ipaddress._BaseNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in settings.CUSTOS_TRUSTED_PROXIES)


def _parse(addr: str) -> ipaddress._BaseAddress | None:
    try:
        return ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(addr: ipaddress._BaseAddress) -> bool:
    return any(addr in net for net in _trusted_networks())


def client_ip(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The first address, walking X-Forwarded-For from the right, that is not a trusted proxy.

    Walking from the right matters: everything left of the last trusted hop was written by
    the client and can be forged."""
    peer = _parse(remote_addr or "")
    if peer is None:
        return None
    if not forwarded_for or not _trusted(peer):
        return str(peer)
    hops = [h for h in (p.strip() for p in forwarded_for.split(",")) if h]
    for hop in reversed(hops):
        addr = _parse(hop)
        if addr is None:
            return str(peer)  # garbage in the chain: trust only what we saw ourselves
        if not _trusted(addr):
            return str(addr)
    return str(peer)
