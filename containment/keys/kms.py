"""Rotate AWS KMS keys.

- rotate (default): on-demand rotation (RotateKeyOnDemand). The key id and alias stay; new
  encryptions use new material, old ciphertexts still decrypt. Symmetric keys only.
- replace: for an alias, create a key with the same spec and usage, move the alias to it, and
  disable the old key. The old key is never scheduled for deletion: evidence and old data may
  still need it, and disabling is reversible.

A key rotated (or an alias whose key was created) after `since` needs nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from containment.base import AwsAdapter, done_since
from containment.interface import Action, TargetResult
from containment.keys.interface import ACTION
from core.aws import AwsAccount
from core.errors import BadInput
from core.timeutil import rfc3339

NO_KEY = ("NotFoundException",)
MARK = "created by breachkit containment"  # in a replacement key's description
Mode = Literal["rotate", "replace"]


class KmsKeys(AwsAdapter):
    name: ClassVar[str] = "kms"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "key"
    missing_codes: ClassVar[tuple[str, ...]] = NO_KEY
    unreadable: ClassVar[str] = "could not read the key back"

    def __init__(self, account: AwsAccount, mode: str = "rotate") -> None:
        if mode not in ("rotate", "replace"):
            raise BadInput(f"unknown KMS mode {mode!r}", hint="rotate or replace")
        super().__init__(account)
        self.mode: Mode = "replace" if mode == "replace" else "rotate"

    def settings(self) -> dict[str, Any]:
        return {"mode": self.mode, "schedules_deletion": False}

    def _describe(self, key: str, target: TargetResult) -> dict[str, Any]:
        meta = self.call("kms", "describe_key", target, KeyId=key)["KeyMetadata"]
        return meta if isinstance(meta, dict) else {}

    def _last_rotation(self, key_id: str, target: TargetResult) -> datetime | None:
        got = self.call("kms", "list_key_rotations", target, KeyId=key_id)
        dates = [r["RotationDate"] for r in got.get("Rotations", [])]
        return max(dates) if dates else None

    def _state(self, target: TargetResult) -> dict[str, Any]:
        meta = self._describe(target.name, target)
        state = {
            "key_id": meta["KeyId"],
            "key_state": meta["KeyState"],
            "created": rfc3339(meta["CreationDate"]),
        }
        if self.mode == "rotate" and meta.get("KeySpec") == "SYMMETRIC_DEFAULT":
            last = self._last_rotation(meta["KeyId"], target)
            meta["LastRotation"] = last
            state["last_rotation"] = rfc3339(last) if last else None
        target.work = meta
        return state

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        target.before = self._state(target)
        self._decide(target, since)

    def _decide(self, target: TargetResult, since: datetime) -> None:
        meta = target.work
        if meta.get("KeyManager") == "AWS":
            target.fail("an AWS-managed key cannot be rotated on demand or replaced")
        elif self.mode == "replace":
            if not target.name.startswith("alias/"):
                target.fail("replace mode moves an alias: give the key as alias/NAME")
            elif MARK in meta.get("Description", "") and done_since(meta["CreationDate"], since):
                target.status, target.change = "noop", "the alias already points at a new key"
            else:
                target.change = (
                    f"create a new key, move {target.name} to it, disable {meta['KeyId']}"
                )
        elif meta.get("KeySpec") != "SYMMETRIC_DEFAULT":
            target.fail(
                f"on-demand rotation needs a symmetric key, this is {meta.get('KeySpec')}",
                "use --kms-mode replace with the key's alias",
            )
        else:
            last = meta.get("LastRotation")
            if done_since(last, since):
                target.status, target.change = "noop", f"rotated at {rfc3339(last)}"
            else:
                target.change = "rotate key material on demand"

    def apply_one(self, target: TargetResult) -> None:
        if self.mode == "replace":
            self._replace(target)
        else:
            self.call("kms", "rotate_key_on_demand", target, KeyId=target.work["KeyId"])
            target.change = "rotated key material"
        target.count = 1

    def _replace(self, target: TargetResult) -> None:
        old = target.work
        created = self.call(
            "kms",
            "create_key",
            target,
            KeyUsage=old.get("KeyUsage", "ENCRYPT_DECRYPT"),
            KeySpec=old.get("KeySpec", "SYMMETRIC_DEFAULT"),
            Description=f"replaces {old['KeyId']} ({target.name}); {MARK}",
        )["KeyMetadata"]
        self.call(
            "kms", "update_alias", target, AliasName=target.name, TargetKeyId=created["KeyId"]
        )
        self.call("kms", "disable_key", target, KeyId=old["KeyId"])
        target.change = f"{target.name} -> {created['KeyId']}; disabled {old['KeyId']}"

    def verify_one(self, target: TargetResult) -> None:
        old_id = target.before["key_id"]
        target.after = self._state(target)
        if self.mode == "replace":
            target.after["old_key_state"] = self._describe(old_id, target)["KeyState"]
        self._check(target, old_id)

    def _check(self, target: TargetResult, old_id: str) -> None:
        after = target.after
        if self.mode == "rotate":
            if after.get("last_rotation") == target.before.get("last_rotation"):
                target.fail("ListKeyRotations shows no new rotation")
        elif after["key_id"] == old_id:
            target.fail(f"{target.name} still points at the old key")
        elif after.get("old_key_state") != "Disabled":
            target.fail(f"the old key is {after.get('old_key_state')}, not Disabled")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        if self.mode == "rotate":
            return "none needed: earlier key material is kept and still decrypts old ciphertexts"
        return "; ".join(
            f"aws kms enable-key --key-id {t.before['key_id']} && "
            f"aws kms update-alias --alias-name {t.name} --target-key-id {t.before['key_id']}"
            for t in results
        )
