"""Rotate IAM users' access keys: create a new key, store its secret at the named destination,
then deactivate every active key created before `since`. The old keys are deactivated, not
deleted, so the rotation can be undone; the new secret appears nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.accounts.iam_user import deactivate_access_key
from containment.base import AwsAdapter, done_since
from containment.interface import Action, TargetResult
from containment.keys.destination import Destination
from containment.keys.interface import ACTION
from core.aws import AwsAccount
from core.errors import BreachError
from core.timeutil import rfc3339

KEY_LIMIT = 2  # IAM allows two access keys per user


class IamAccessKeys(AwsAdapter):
    name: ClassVar[str] = "iam-access-key"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "user"
    unit: ClassVar[str] = "access keys"
    missing_codes: ClassVar[tuple[str, ...]] = ("NoSuchEntity",)
    unreadable: ClassVar[str] = "could not read the keys back"

    def __init__(self, account: AwsAccount, destination: Destination) -> None:
        super().__init__(account)
        self.destination = destination

    def settings(self) -> dict[str, Any]:
        return {"secret_destination": self.destination.describe("{target}")}

    def _keys(self, target: TargetResult) -> list[dict[str, Any]]:
        got = self.call("iam", "list_access_keys", target, UserName=target.name)
        return list(got["AccessKeyMetadata"])

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        keys = self._keys(target)
        target.before = {"access_keys": _describe(keys)}
        old = [
            k["AccessKeyId"]
            for k in keys
            if k["Status"] == "Active" and not done_since(k["CreateDate"], since)
        ]
        target.work, target.count = old, len(old)
        if not old:
            target.status, target.change = "noop", "no active key older than the case"
        elif len(keys) >= KEY_LIMIT:
            target.fail(
                f"{target.name} already has {len(keys)} access keys, the IAM limit",
                "delete an unused (inactive) key first: aws iam delete-access-key",
            )
        else:
            where = self.destination.describe(target.name)
            target.change = f"create a new key (secret to {where}), deactivate {', '.join(old)}"

    def _delete(self, target: TargetResult, key_id: str) -> None:
        self.call("iam", "delete_access_key", target, UserName=target.name, AccessKeyId=key_id)

    def apply_one(self, target: TargetResult) -> None:
        new = self.call("iam", "create_access_key", target, UserName=target.name)["AccessKey"]
        try:
            stored = self.destination.store(target.name, new["SecretAccessKey"])
        except Exception as exc:
            # Nobody can hold the secret: remove the key rather than leave an orphan.
            self._delete(target, new["AccessKeyId"])
            if not isinstance(exc, BreachError):
                raise
            reason = (
                f"the new secret could not be stored, so the new key was deleted: {exc.message}"
            )
            target.fail(reason, exc.hint)
            return
        if stored.request_id:
            target.request_ids.append(stored.request_id)
        for key_id in target.work:
            deactivate_access_key(self, target, key_id)
        target.change = f"new key {new['AccessKeyId']} (secret at {stored.location}); deactivated {', '.join(target.work)}"
        target.work = {"old": target.work, "new": new["AccessKeyId"], "stored": stored.location}

    def verify_one(self, target: TargetResult) -> None:
        keys = {k["AccessKeyId"]: k["Status"] for k in self._keys(target)}
        work = target.work
        target.after = {
            "access_keys": keys,
            "new_access_key_id": work["new"],
            "secret_stored_at": work["stored"],
        }
        still = [k for k in work["old"] if keys.get(k) == "Active"]
        if keys.get(work["new"]) != "Active" or still:
            target.fail(
                f"after rotation: new key {keys.get(work['new'])}, old still active: {still}"
            )

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = []
        for target in results:
            work = target.work if isinstance(target.work, dict) else {"old": target.work or []}
            for key_id in work.get("old", []):
                lines.append(
                    f"aws iam update-access-key --user-name {target.name} --access-key-id {key_id} --status Active"
                )
            if work.get("new"):
                lines.append(
                    f"aws iam delete-access-key --user-name {target.name} --access-key-id {work['new']}"
                )
        return "; ".join(lines) or "nothing to undo"


def _describe(keys: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        k["AccessKeyId"]: {"status": k["Status"], "created": rfc3339(k["CreateDate"])} for k in keys
    }
