"""Disable Cognito users (AdminDisableUser): they can no longer sign in or refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from containment.accounts.interface import ACTION
from containment.cognito import CognitoPoolAdapter
from containment.interface import Action, TargetResult


class CognitoUsers(CognitoPoolAdapter):
    name: ClassVar[str] = "cognito"
    action: ClassVar[Action] = ACTION
    change: ClassVar[str] = "disable"
    operation: ClassVar[str] = "admin_disable_user"
    done: ClassVar[str] = "disabled"

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        super().plan_one(target, since)
        if not target.before["enabled"]:
            target.status, target.change = "noop", "already disabled"

    def verify_one(self, target: TargetResult) -> None:
        target.after = self.read_user(target)
        if target.after["enabled"]:
            target.fail("the user is still enabled after AdminDisableUser")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        return "; ".join(
            f"aws cognito-idp admin-enable-user --user-pool-id {self.pool} --username {t.name}"
            for t in results
        )
