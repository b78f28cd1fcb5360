"""Revoke a Cognito user's tokens: AdminUserGlobalSignOut invalidates every refresh token (and
the access tokens issued with them). Cognito cannot list a user's live tokens, so each apply signs
the user out again; the read-back records the user's status after the sign-out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.aws import AwsAccount, AwsCallFailed
from containment.base import AwsAdapter, missing_or_failed
from containment.interface import Action, TargetResult
from containment.sessions.interface import ACTION, UNDO
from manifests.errors import BadInput

NO_USER = ("UserNotFoundException",)


def user_state(response: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": bool(response.get("Enabled")), "user_status": response.get("UserStatus")}


class CognitoSessions(AwsAdapter):
    name: ClassVar[str] = "cognito"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "user"

    def __init__(self, account: AwsAccount, user_pool_id: str | None) -> None:
        if not user_pool_id:
            raise BadInput("the cognito adapter needs --user-pool-id")
        super().__init__(account)
        self.pool = user_pool_id

    def settings(self) -> dict[str, Any]:
        return {"user_pool_id": self.pool}

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        results = []
        for name in targets:
            target = TargetResult(name=name, status="planned", change="global sign-out")
            try:
                got = self.call(
                    "cognito-idp", "admin_get_user", target, UserPoolId=self.pool, Username=name
                )
                target.before = user_state(got)
            except AwsCallFailed as exc:
                missing_or_failed(target, exc, *NO_USER)
            results.append(target)
        return results

    def apply(self, planned: list[TargetResult]) -> None:
        for target in planned:
            try:
                self.call(
                    "cognito-idp",
                    "admin_user_global_sign_out",
                    target,
                    UserPoolId=self.pool,
                    Username=target.name,
                )
                target.status, target.change = "ok", "signed out of every device"
            except AwsCallFailed as exc:
                missing_or_failed(target, exc, *NO_USER)

    def verify(self, done: list[TargetResult]) -> None:
        for target in done:
            try:
                got = self.call(
                    "cognito-idp",
                    "admin_get_user",
                    target,
                    UserPoolId=self.pool,
                    Username=target.name,
                )
                # Cognito has no API listing a user's tokens: what can be read back is the user.
                target.after = {**user_state(got), "global_sign_out": "accepted"}
            except AwsCallFailed as exc:
                target.fail(
                    f"signed out, but could not read the user back: {exc.message}", exc.hint
                )

    def undo(self, results: Sequence[TargetResult]) -> str:
        return UNDO
