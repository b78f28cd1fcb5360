"""Rotate Secrets Manager secrets.

- new-version (default): put a new random value as AWSCURRENT. When the secret is a JSON object
  with a `password` field (the shape RDS and most apps use), only that field changes.
- rotate: start the secret's own rotation (RotateSecret with its configured Lambda).

Each rotation tags the secret with the version it made current and when
(`breachkit:rotated-version`, `breachkit:rotated-at`): a secret whose current version is the one
tagged after `since` needs nothing more. Values never leave this module: receipts carry version
ids only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from containment.base import AwsAdapter
from containment.interface import Action, TargetResult
from containment.keys.interface import ACTION
from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput
from core.timeutil import parse_rfc3339, rfc3339, utcnow

NO_SECRET = ("ResourceNotFoundException",)
TAG_VERSION = "breachkit:rotated-version"
TAG_AT = "breachkit:rotated-at"


def new_value(current: str) -> str:
    """A fresh random value in the same shape as the current one."""
    fresh = secrets.token_urlsafe(32)
    try:
        parsed = json.loads(current)
    except ValueError:
        return fresh
    if isinstance(parsed, dict) and "password" in parsed:
        return json.dumps({**parsed, "password": fresh})
    return fresh


class SecretsManagerSecrets(AwsAdapter):
    name: ClassVar[str] = "secretsmanager"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "secret"
    missing_codes: ClassVar[tuple[str, ...]] = NO_SECRET
    unreadable: ClassVar[str] = "could not read the secret back"

    def __init__(self, account: AwsAccount, mode: str = "new-version") -> None:
        if mode not in ("new-version", "rotate"):
            raise BadInput(f"unknown Secrets Manager mode {mode!r}", hint="new-version or rotate")
        super().__init__(account)
        self.mode = mode

    def settings(self) -> dict[str, Any]:
        return {"mode": self.mode}

    def _current(self, target: TargetResult) -> dict[str, Any]:
        """The AWSCURRENT version's id and creation time."""
        got = self.call("secretsmanager", "list_secret_version_ids", target, SecretId=target.name)
        found: dict[str, Any] = {"version_id": None, "created": None, "pending": None}
        for version in got.get("Versions", []):
            stages = version.get("VersionStages", [])
            if "AWSCURRENT" in stages:
                found.update(version_id=version["VersionId"], created=version.get("CreatedDate"))
            if "AWSPENDING" in stages:
                found["pending"] = version["VersionId"]
        return found

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        described = self.call("secretsmanager", "describe_secret", target, SecretId=target.name)
        current = self._current(target)
        target.before = _shown(current)
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        if _rotated_since(tags, current["version_id"], since):
            target.status, target.change = "noop", f"rotated at {tags[TAG_AT]}"
        else:
            target.change = (
                "start rotation" if self.mode == "rotate" else "put a new random version"
            )

    def apply_one(self, target: TargetResult) -> None:
        if self.mode == "rotate":
            self.call("secretsmanager", "rotate_secret", target, SecretId=target.name)
        else:
            self._new_version(target)
        target.count = 1

    def _new_version(self, target: TargetResult) -> None:
        got = self.call("secretsmanager", "get_secret_value", target, SecretId=target.name)
        value = new_value(str(got.get("SecretString", "")))
        put = self.call(
            "secretsmanager",
            "put_secret_value",
            target,
            SecretId=target.name,
            SecretString=value,
            VersionStages=["AWSCURRENT"],
        )
        target.change = f"new version {put['VersionId']}"

    def verify_one(self, target: TargetResult) -> None:
        current = self._current(target)
        target.after = _shown(current)
        moved = current["version_id"] != target.before["version_id"]
        # A Lambda rotation may still be running: a pending version is progress.
        if not moved and not (self.mode == "rotate" and current["pending"]):
            target.fail("AWSCURRENT still points at the old version")
        elif moved:
            self._tag(target, current["version_id"])

    def _tag(self, target: TargetResult, version_id: str) -> None:
        """Mark the rotation on the secret itself; without the tag a rerun rotates again."""
        tags = [
            {"Key": TAG_VERSION, "Value": version_id},
            {"Key": TAG_AT, "Value": rfc3339(utcnow())},
        ]
        try:
            self.call("secretsmanager", "tag_resource", target, SecretId=target.name, Tags=tags)
        except AwsCallFailed as exc:
            target.after["tag"] = f"not tagged ({exc.message}): a rerun will rotate again"

    def undo(self, results: Sequence[TargetResult]) -> str:
        lines = [
            f"aws secretsmanager update-secret-version-stage --secret-id {t.name} "
            f"--version-stage AWSCURRENT --move-to-version-id {t.before['version_id']} "
            f"--remove-from-version-id {t.after.get('version_id', 'NEW')}"
            for t in results
            if t.before.get("version_id")
        ]
        return "; ".join(lines) or "nothing to undo"


def _rotated_since(tags: dict[str, str], current: str | None, since: datetime) -> bool:
    if not current or tags.get(TAG_VERSION) != current or TAG_AT not in tags:
        return False
    try:
        return parse_rfc3339(tags[TAG_AT]) >= since
    except BadInput:
        return False


def _shown(current: dict[str, Any]) -> dict[str, Any]:
    created = current["created"]
    shown = {"version_id": current["version_id"], "created": rfc3339(created) if created else None}
    if current.get("pending"):
        shown["pending_version_id"] = current["pending"]
    return shown
