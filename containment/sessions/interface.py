"""Sessions: end what an attacker may be holding (cookies, tokens, refresh tokens).

A target is a user (an application user id, a Cognito user name) or an IAM role name.
`count` is the number of sessions revoked, where the system can count them.
"""

from __future__ import annotations

from typing import Protocol

from containment.interface import Action, ContainmentAdapter

ACTION: Action = "revoke-sessions"


class SessionRevoker(ContainmentAdapter, Protocol):
    """A `revoke-sessions` adapter; every module in this package implements it."""


UNDO = "none: revoked sessions cannot be restored; users sign in again"
NEW_SESSIONS_HINT = (
    "new sessions appeared while revoking: disable the account (breach contain disable-accounts),"
    " then revoke again"
)
