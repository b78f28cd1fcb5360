"""Revoke a Cognito user's tokens: AdminUserGlobalSignOut invalidates every refresh token (and
the access tokens issued with them). Cognito cannot list a user's live tokens, so each apply signs
the user out again; the read-back records the user's status after the sign-out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from containment.cognito import CognitoPoolAdapter
from containment.interface import Action, TargetResult
from containment.sessions.interface import ACTION, UNDO
from core.aws import AwsCallFailed


class CognitoSessions(CognitoPoolAdapter):
    name: ClassVar[str] = "cognito"
    action: ClassVar[Action] = ACTION

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        return self.plan_users(targets, "global sign-out")

    def apply(self, planned: list[TargetResult]) -> None:
        self.admin_each(planned, "admin_user_global_sign_out", "signed out of every device")

    def verify(self, done: list[TargetResult]) -> None:
        for target in done:
            try:
                # Cognito has no API listing a user's tokens: what can be read back is the user.
                target.after = {**self.read_user(target), "global_sign_out": "accepted"}
            except AwsCallFailed as exc:
                target.fail(
                    f"signed out, but could not read the user back: {exc.message}", exc.hint
                )

    def undo(self, results: Sequence[TargetResult]) -> str:
        return UNDO
