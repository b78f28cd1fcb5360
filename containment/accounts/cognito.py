"""Disable Cognito users (AdminDisableUser): they can no longer sign in or refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from containment.accounts.interface import ACTION
from containment.cognito import CognitoPoolAdapter
from containment.interface import Action, TargetResult
from core.aws import AwsCallFailed


class CognitoUsers(CognitoPoolAdapter):
    name: ClassVar[str] = "cognito"
    action: ClassVar[Action] = ACTION

    def plan(self, targets: Sequence[str], *, since: datetime) -> list[TargetResult]:
        results = self.plan_users(targets, "disable")
        for target in results:
            if target.status == "planned" and not target.before["enabled"]:
                target.status, target.change = "noop", "already disabled"
        return results

    def apply(self, planned: list[TargetResult]) -> None:
        self.admin_each(planned, "admin_disable_user", "disabled")

    def verify(self, done: list[TargetResult]) -> None:
        for target in done:
            try:
                target.after = self.read_user(target)
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
