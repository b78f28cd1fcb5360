"""Disable IAM users: deactivate their access keys, delete their console password, and attach an
inline deny-all quarantine policy (it also stops anything the keys were already used to start)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote

from containment.accounts.interface import ACTION
from containment.base import AwsAdapter
from containment.interface import Action, TargetResult

QUARANTINE_POLICY = "BreachkitQuarantine"
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "BreachkitQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}


def deactivate_access_key(adapter: AwsAdapter, target: TargetResult, key_id: str) -> None:
    """Set one of the target user's access keys Inactive (kept, so the step can be undone)."""
    adapter.call(
        "iam",
        "update_access_key",
        target,
        UserName=target.name,
        AccessKeyId=key_id,
        Status="Inactive",
    )


class IamUsers(AwsAdapter):
    name: ClassVar[str] = "iam-user"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "user"
    missing_codes: ClassVar[tuple[str, ...]] = ("NoSuchEntity",)
    unreadable: ClassVar[str] = "could not read the user back"

    def settings(self) -> dict[str, Any]:
        return {"quarantine_policy": QUARANTINE_POLICY}

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        self.call("iam", "get_user", target, UserName=target.name)
        target.before = self._state(target)
        steps = _steps(target.before)
        target.change = ", ".join(steps) if steps else "already disabled"
        target.status = "planned" if steps else "noop"
        target.count = len(steps)

    def _state(self, target: TargetResult) -> dict[str, Any]:
        """Access key ids and statuses (ids are not secrets), console login, quarantine policy."""
        keys = self.call("iam", "list_access_keys", target, UserName=target.name)
        return {
            "access_keys": {k["AccessKeyId"]: k["Status"] for k in keys["AccessKeyMetadata"]},
            "console_login": self.call_if_exists(
                "iam", "get_login_profile", target, "NoSuchEntity", UserName=target.name
            )
            is not None,
            "quarantine_policy": self._has_quarantine(target),
        }

    def _has_quarantine(self, target: TargetResult) -> bool:
        got = self.call_if_exists(
            "iam",
            "get_user_policy",
            target,
            "NoSuchEntity",
            UserName=target.name,
            PolicyName=QUARANTINE_POLICY,
        )
        if got is None:
            return False
        document = got["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(unquote(document))
        return bool(document == DENY_ALL)

    def apply_one(self, target: TargetResult) -> None:
        before = target.before
        for key_id, status in before["access_keys"].items():
            if status == "Active":
                deactivate_access_key(self, target, key_id)
        if before["console_login"]:
            self.call("iam", "delete_login_profile", target, UserName=target.name)
        if not before["quarantine_policy"]:
            self.call(
                "iam",
                "put_user_policy",
                target,
                UserName=target.name,
                PolicyName=QUARANTINE_POLICY,
                PolicyDocument=json.dumps(DENY_ALL),
            )

    def verify_one(self, target: TargetResult) -> None:
        target.after = self._state(target)
        left = _steps(target.after)
        if left:
            target.fail(f"still to do after apply: {', '.join(left)}")

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = []
        for target in results:
            user = target.name
            for key_id, status in target.before.get("access_keys", {}).items():
                if status == "Active":
                    lines.append(
                        f"aws iam update-access-key --user-name {user} --access-key-id {key_id} --status Active"
                    )
            if target.before.get("console_login"):
                lines.append(
                    f"aws iam create-login-profile --user-name {user} --password-reset-required --password NEW"
                )
            if not target.before.get("quarantine_policy"):
                lines.append(
                    f"aws iam delete-user-policy --user-name {user} --policy-name {QUARANTINE_POLICY}"
                )
        return "; ".join(lines) or "nothing to undo"


def _steps(state: dict[str, Any]) -> list[str]:
    active = [k for k, s in state["access_keys"].items() if s == "Active"]
    steps = []
    if active:
        steps.append(f"deactivate {len(active)} access key{'s' if len(active) > 1 else ''}")
    if state["console_login"]:
        steps.append("delete console login")
    if not state["quarantine_policy"]:
        steps.append(f"attach {QUARANTINE_POLICY}")
    return steps
