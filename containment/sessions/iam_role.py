"""Revoke an IAM role's active sessions the way the console does: an inline policy
`AWSRevokeOlderSessions` that denies everything to credentials issued before a cutoff
(`aws:TokenIssueTime`). Stolen temporary credentials stop working; new sessions are unaffected.

The cutoff is `since` (the moment given, by default now). A role whose policy already has a cutoff
at or after it needs nothing more."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote

from containment.base import AwsAdapter
from containment.interface import Action, TargetResult
from containment.sessions.interface import ACTION
from core.aws import AwsAccount
from core.timeutil import parse_rfc3339, rfc3339

POLICY_NAME = "AWSRevokeOlderSessions"


def revoke_policy(cutoff: datetime) -> dict[str, Any]:
    stamp = rfc3339(cutoff.replace(microsecond=0))
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }


def policy_cutoff(document: Any) -> datetime | None:
    """The TokenIssueTime cutoff in a revoke policy (IAM may return the document URL-encoded)."""
    if isinstance(document, str):
        document = json.loads(unquote(document))
    for statement in document.get("Statement", []):
        stamp = statement.get("Condition", {}).get("DateLessThan", {}).get("aws:TokenIssueTime")
        if stamp:
            return parse_rfc3339(str(stamp), field="aws:TokenIssueTime")
    return None


class IamRoleSessions(AwsAdapter):
    name: ClassVar[str] = "iam-role"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "role"
    missing_codes: ClassVar[tuple[str, ...]] = ("NoSuchEntity",)
    unreadable: ClassVar[str] = "could not read the policy back"

    def __init__(self, account: AwsAccount) -> None:
        super().__init__(account)
        self.cutoff: datetime | None = None

    def settings(self) -> dict[str, Any]:
        return {"policy": POLICY_NAME, "cutoff": rfc3339(self.cutoff) if self.cutoff else None}

    def prepare_plan(self, results: list[TargetResult], since: datetime) -> None:
        self.cutoff = since.replace(microsecond=0)

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        assert self.cutoff is not None
        self.call("iam", "get_role", target, RoleName=target.name)
        current = self._current_cutoff(target)
        target.before = {"revoked_before": rfc3339(current) if current else None}
        if current and current >= self.cutoff:
            target.status, target.change = "noop", "tokens issued before the cutoff already denied"
        else:
            target.change = f"deny tokens issued before {rfc3339(self.cutoff)}"

    def _current_cutoff(self, target: TargetResult) -> datetime | None:
        got = self.call_if_exists(
            "iam",
            "get_role_policy",
            target,
            "NoSuchEntity",
            RoleName=target.name,
            PolicyName=POLICY_NAME,
        )
        return None if got is None else policy_cutoff(got["PolicyDocument"])

    def apply_one(self, target: TargetResult) -> None:
        assert self.cutoff is not None
        self.call(
            "iam",
            "put_role_policy",
            target,
            RoleName=target.name,
            PolicyName=POLICY_NAME,
            PolicyDocument=json.dumps(revoke_policy(self.cutoff)),
        )

    def verify_one(self, target: TargetResult) -> None:
        assert self.cutoff is not None
        current = self._current_cutoff(target)
        target.after = {"revoked_before": rfc3339(current) if current else None}
        if current != self.cutoff:
            target.fail(f"{POLICY_NAME} does not hold the cutoff {rfc3339(self.cutoff)}")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        roles = " ".join(t.name for t in results)
        return (
            f"once stolen credentials have expired (12 h at most), for each role in {roles}: "
            f"aws iam delete-role-policy --role-name ROLE --policy-name {POLICY_NAME}"
        )
