"""Keys: replace key material an attacker may have read. A target names a key, a user or a role.

A key rotated after `since` (by default, when the case was opened) needs no second rotation, which
is what makes a second apply find nothing to do. New secrets go only to a destination the user
names (`secretsmanager:NAME` or `file:PATH`), never to output, journal or receipt.
"""

from __future__ import annotations

from typing import Protocol

from containment.interface import Action, ContainmentAdapter

ACTION: Action = "rotate-keys"


class KeyRotator(ContainmentAdapter, Protocol):
    """A `rotate-keys` adapter; every module in this package implements it."""
