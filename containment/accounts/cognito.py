"""Disable Cognito users (AdminDisableUser): they can no longer sign in or refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.accounts.interface import ACTION
from containment.aws import AwsAccount, AwsCallFailed
from containment.base import AwsAdapter, missing_or_failed
from containment.interface import Action, TargetResult
from containment.sessions.cognito import NO_USER, user_state
from manifests.errors import BadInput


class CognitoUsers(AwsAdapter):
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

    def _read(self, target: TargetResult) -> dict[str, Any]:
        got = self.call(
            "cognito-idp", "admin_get_user", target, UserPoolId=self.pool, Username=target.name
        )
        return user_state(got)

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        results = []
        for name in targets:
            target = TargetResult(name=name, status="planned", change="disable")
            try:
                target.before = self._read(target)
                if not target.before["enabled"]:
                    target.status, target.change = "noop", "already disabled"
            except AwsCallFailed as exc:
                missing_or_failed(target, exc, *NO_USER)
            results.append(target)
        return results

    def apply(self, planned: list[TargetResult]) -> None:
        for target in planned:
            try:
                self.call(
                    "cognito-idp",
                    "admin_disable_user",
                    target,
                    UserPoolId=self.pool,
                    Username=target.name,
                )
                target.status, target.change = "ok", "disabled"
            except AwsCallFailed as exc:
                missing_or_failed(target, exc, *NO_USER)

    def verify(self, done: list[TargetResult]) -> None:
        for target in done:
            try:
                target.after = self._read(target)
            except AwsCallFailed as exc:
                target.fail(f"could not read the user back: {exc.message}", exc.hint)
                continue
            if target.after["enabled"]:
                target.fail("the user is still enabled after AdminDisableUser")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        return "; ".join(
            f"aws cognito-idp admin-enable-user --user-pool-id {self.pool} --username {t.name}"
            for t in results
        )
