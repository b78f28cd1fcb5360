"""Revoke a Cognito user's tokens: AdminUserGlobalSignOut invalidates every refresh token (and
the access tokens issued with them). Cognito cannot list a user's live tokens, so each apply signs
the user out again; the read-back records the user's status after the sign-out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from containment.cognito import CognitoPoolAdapter
from containment.interface import Action, TargetResult
from containment.sessions.interface import ACTION, UNDO


class CognitoSessions(CognitoPoolAdapter):
    name: ClassVar[str] = "cognito"
    action: ClassVar[Action] = ACTION
    change: ClassVar[str] = "global sign-out"
    operation: ClassVar[str] = "admin_user_global_sign_out"
    done: ClassVar[str] = "signed out of every device"
    unreadable: ClassVar[str] = "signed out, but could not read the user back"

    def verify_one(self, target: TargetResult) -> None:
        # Cognito has no API listing a user's tokens: what can be read back is the user.
        target.after = {**self.read_user(target), "global_sign_out": "accepted"}

    def undo(self, results: Sequence[TargetResult]) -> str:
        return UNDO
