"""Block: deny an attack vector at the edge. A target is a CIDR (an address means /32 or /128),
or for security groups also a rule id (sgr-...)."""

from __future__ import annotations

import ipaddress
from typing import Protocol

from containment.interface import Action, ContainmentAdapter

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
