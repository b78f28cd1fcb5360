"""Block: deny an attack vector at the edge. A target is a CIDR (an address means /32 or /128),
or for security groups also a rule id (sgr-...)."""

from __future__ import annotations

import ipaddress
from typing import Protocol

from containment.interface import Action, ContainmentAdapter, TargetResult

ACTION: Action = "block"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Blocker(ContainmentAdapter, Protocol):
    """A `block` adapter; every module in this package implements it."""


def parse_cidr(text: str) -> Network | None:
    """'203.0.113.7' -> 203.0.113.7/32; host bits are cleared; None when it is no address."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def mark_repeats(results: list[TargetResult]) -> list[TargetResult]:
    """A planned target naming the same network as an earlier one ('1.2.3.4' and '1.2.3.4/32')
    becomes a no-op, so the network is not added, denied or revoked twice."""
    first: dict[Network, str] = {}
    for target in results:
        network = parse_cidr(target.name)
        if target.status != "planned" or network is None:
            continue
        if network in first:
            target.status, target.change, target.count = "noop", f"same as {first[network]}", 0
            target.work = None
        else:
            first[network] = target.name
    return results
