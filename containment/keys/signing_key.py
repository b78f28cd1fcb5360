"""Rotate the case's own Ed25519 signing key.

A new key is generated beside the old one (`<stem>-<UTC stamp>.pem`, mode 0600, with its public
half `<...>.pub.pem`), and a rotation record `<old>.rotation.json` names the old and new key ids
(keyid = sha256 hex of the public key's SubjectPublicKeyInfo DER). The old key stays: bundles it
signed still verify against it. A rotation record written after `since` means nothing to do.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization

from containment.base import AdapterBase
from containment.interface import Action, TargetResult
from containment.keys.interface import ACTION
from core.fsio import write_json
from core.operator import os_user
from core.timeutil import parse_rfc3339, rfc3339, utcnow
from manifests.keys import keyid, write_signing_key

PASSPHRASE_ENV = "BREACH_KEY_PASSPHRASE"


def load_public(path: Path) -> Any:
    """The public key of a PEM file holding a private key (passphrase from the environment) or a
    public key; a `.pub.pem` beside an encrypted private key also serves."""
    data = path.read_bytes()
    if b"PUBLIC KEY" in data:
        return serialization.load_pem_public_key(data)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        private = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except TypeError:  # encrypted and no passphrase: fall back to the public half beside it
        sibling = public_path(path)
        if sibling.is_file():
            return serialization.load_pem_public_key(sibling.read_bytes())
        raise ValueError(f"{path} is encrypted: set {PASSPHRASE_ENV}") from None
    return private.public_key()


def public_path(private: Path) -> Path:
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")


def rotation_record(old: Path) -> Path:
    return old.with_name(old.name + ".rotation.json")


class SigningKeys(AdapterBase):
    name: ClassVar[str] = "signing-key"
    action: ClassVar[Action] = ACTION
    noun: ClassVar[str] = "key"
    # A key file that cannot be read or written concerns that key alone.
    target_errors: ClassVar[tuple[type[Exception], ...]] = (OSError, ValueError)
    unreadable: ClassVar[str] = "cannot read the new key back"

    def system(self) -> str:
        return "local Ed25519 signing keys"

    def operator(self) -> str:
        return f"{os_user()} (OS user)"

    def plan_one(self, target: TargetResult, since: datetime) -> None:
        path = Path(target.name)
        if not path.is_file():
            target.status, target.reason = "missing", f"no key file at {path}"
            return
        try:
            old_id = keyid(load_public(path))
        except ValueError as exc:
            target.fail(f"cannot read {path}: {exc}", f"a PEM Ed25519 key; {PASSPHRASE_ENV}")
            return
        target.before = {"keyid": old_id, "path": str(path)}
        done = _previous_rotation(path, old_id)
        if done and parse_rfc3339(done["rotated_at"]) >= since and Path(done["new_path"]).is_file():
            target.status = "noop"
            target.change = f"rotated at {done['rotated_at']} to {done['new_keyid'][:16]}"
        else:
            target.change = "generate a new Ed25519 key beside it"

    def apply_one(self, target: TargetResult) -> None:
        old = Path(target.name)
        now = utcnow()
        new_path = old.with_name(f"{old.name.removesuffix('.pem')}-{now:%Y%m%dT%H%M%SZ}.pem")
        try:
            new_id = self._generate(new_path)
        except OSError as exc:
            target.fail(f"cannot write {new_path}: {exc.strerror}")
            return
        record = {
            "old_keyid": target.before["keyid"],
            "old_path": str(old),
            "new_keyid": new_id,
            "new_path": str(new_path),
            "new_public_path": str(public_path(new_path)),
            "rotated_at": rfc3339(now),
        }
        write_json(rotation_record(old), record)
        target.count, target.work = 1, record
        target.change = f"new key {new_id[:16]} at {new_path}"

    def _generate(self, path: Path) -> str:
        key = write_signing_key(path, public_path(path), os.environ.get(PASSPHRASE_ENV))
        return keyid(key.public_key())

    def verify_one(self, target: TargetResult) -> None:
        record = target.work
        path = Path(record["new_path"])
        read_back = keyid(load_public(path))
        mode = stat.S_IMODE(path.stat().st_mode)
        target.after = {"keyid": read_back, "path": str(path), "mode": f"{mode:04o}"}
        if read_back != record["new_keyid"] or mode != 0o600:
            target.fail(f"new key reads back as {read_back[:16]}, mode {mode:04o}")

    def undo(self, results: Sequence[TargetResult]) -> str:
        if not results:
            return "nothing to undo"
        return "keep signing with the old key (it is untouched): " + ", ".join(
            t.name for t in results
        )


def _previous_rotation(path: Path, old_id: str) -> dict[str, Any] | None:
    record = rotation_record(path)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("old_keyid") == old_id else None
