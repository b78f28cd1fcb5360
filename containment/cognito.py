"""What the two Cognito adapters share: one user pool, users read with AdminGetUser, and one
admin call per user (AdminUserGlobalSignOut to revoke sessions, AdminDisableUser to disable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from containment.base import AwsAdapter, missing_or_failed
from containment.interface import TargetResult
from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput

NO_USER = "UserNotFoundException"


class CognitoPoolAdapter(AwsAdapter):
    """An adapter acting on the users of one Cognito user pool."""

    noun: ClassVar[str] = "user"

    def __init__(self, account: AwsAccount, user_pool_id: str | None) -> None:
        if not user_pool_id:
            raise BadInput("the cognito adapter needs --user-pool-id")
        super().__init__(account)
        self.pool = user_pool_id

    def settings(self) -> dict[str, Any]:
        return {"user_pool_id": self.pool}

    def read_user(self, target: TargetResult) -> dict[str, Any]:
        """The user's `enabled` flag and status; the request id goes on the target."""
        got = self.call(
            "cognito-idp", "admin_get_user", target, UserPoolId=self.pool, Username=target.name
        )
        return {"enabled": bool(got.get("Enabled")), "user_status": got.get("UserStatus")}

    def plan_users(self, targets: Sequence[str], change: str) -> list[TargetResult]:
        """Each user read into `before` and planned for `change`; a missing user is `missing`."""
        results = []
        for name in targets:
            target = TargetResult(name=name, status="planned", change=change)
            try:
                target.before = self.read_user(target)
            except AwsCallFailed as exc:
                missing_or_failed(target, exc, NO_USER)
            results.append(target)
        return results

    def admin_each(self, planned: list[TargetResult], operation: str, done: str) -> None:
        """One admin call per planned user: `ok` with `done` as the change, or missing/failed."""
        for target in planned:
            try:
                self.call(
                    "cognito-idp", operation, target, UserPoolId=self.pool, Username=target.name
                )
                target.status, target.change = "ok", done
            except AwsCallFailed as exc:
                missing_or_failed(target, exc, NO_USER)
