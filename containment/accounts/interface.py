"""Accounts: stop a user or role from signing in again. A target is a user or role name."""

from __future__ import annotations

from typing import Protocol

from containment.interface import Action, ContainmentAdapter

ACTION: Action = "disable-accounts"


class AccountDisabler(ContainmentAdapter, Protocol):
    """A `disable-accounts` adapter; every module in this package implements it."""
