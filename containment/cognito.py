"""What the two Cognito adapters share: one user pool, users read with AdminGetUser, and one
admin call per user (AdminUserGlobalSignOut to revoke sessions, AdminDisableUser to disable)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from containment.base import AwsAdapter
from containment.interface import TargetResult
from core.aws import AwsAccount

NO_USER = "UserNotFoundException"


class CognitoPoolAdapter(AwsAdapter):
    """An adapter acting on the users of one Cognito user pool: each user read into `before`
    and planned for `change`, then one admin `operation` per user, which makes it `done`."""

    noun: ClassVar[str] = "user"
    missing_codes: ClassVar[tuple[str, ...]] = (NO_USER,)
    unreadable: ClassVar[str] = "could not read the user back"
    change: ClassVar[str]
    operation: ClassVar[str]
    done: ClassVar[str]

    def __init__(self, account: AwsAccount, user_pool_id: str) -> None:
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

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        target.change = self.change
        target.before = self.read_user(target)

    def apply_one(self, target: TargetResult) -> None:
        self.call("cognito-idp", self.operation, target, UserPoolId=self.pool, Username=target.name)
        target.change = self.done
