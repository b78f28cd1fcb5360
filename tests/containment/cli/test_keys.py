"""Key rotation: KMS, IAM access keys, Secrets Manager (moto) and the case's signing key."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from breach.case import Case
from core.timeutil import rfc3339, utcnow
from tests.containment.conftest import assert_nowhere_in_case, by_name


@pytest.mark.aws
def test_kms_on_demand_rotation(aws: None, contain: Any) -> None:
    kms = boto3.client("kms")
    key = kms.create_key(Description="orders")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=key)
    result = contain("rotate-keys", "--adapter", "kms", "--target", "alias/orders")
    assert result.exit_code == 0, result.stderr
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND"
    target = result.json["targets"][0]
    assert target["before"]["last_rotation"] is None and target["after"]["last_rotation"]
    assert result.json["settings"]["schedules_deletion"] is False
    again = contain("rotate-keys", "--adapter", "kms", "--target", "alias/orders")
    assert again.json["status"] == "noop"
    assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 1


@pytest.mark.aws
def test_kms_replace_moves_the_alias_and_disables_the_old_key(aws: None, contain: Any) -> None:
    kms = boto3.client("kms")
    old = kms.create_key(Description="orders")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=old)
    since = rfc3339(utcnow())
    args = ("--adapter", "kms", "--kms-mode", "replace", "--since", since)
    result = contain("rotate-keys", *args, "--target", "alias/orders", "--target", old)
    assert result.exit_code == 1  # a bare key id cannot have its alias moved
    targets = by_name(result.json)
    assert "give the key as alias/NAME" in targets[old]["reason"]
    new = kms.describe_key(KeyId="alias/orders")["KeyMetadata"]["KeyId"]
    assert new != old
    assert kms.describe_key(KeyId=old)["KeyMetadata"]["KeyState"] == "Disabled"
    assert targets["alias/orders"]["after"]["old_key_state"] == "Disabled"
    assert f"enable-key --key-id {old}" in result.json["undo"]
    again = contain("rotate-keys", *args, "--target", "alias/orders")
    assert again.exit_code == 0 and again.json["status"] == "noop"


@pytest.mark.aws
def test_iam_access_key_rotation_stores_the_secret_only_at_the_destination(
    aws: None, breach: Any, tmp_path: Path
) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="ci")
    old = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    time.sleep(1.001 - utcnow().microsecond / 1e6)  # IAM dates are whole seconds
    case = Case.open("INC-KEYS", "P1", "leaked key", root=tmp_path / "keys-case")  # after the key
    args = (
        "contain",
        "rotate-keys",
        "--case",
        str(case.root),
        "--json",
        "--adapter",
        "iam-access-key",
        "--target",
        "ci",
    )
    refused = breach(*args)
    assert refused.exit_code == 2 and "needs --secret-destination" in refused.stderr
    result = breach(*args, "--secret-destination", "secretsmanager:breach/{target}/access-key")
    assert result.exit_code == 0, result.stderr
    keys = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]
    }
    new = result.json["targets"][0]["after"]["new_access_key_id"]
    assert keys == {old: "Inactive", new: "Active"}
    secret = boto3.client("secretsmanager").get_secret_value(SecretId="breach/ci/access-key")[
        "SecretString"
    ]
    assert len(secret) == 40
    for path in case.root.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text()
    assert secret not in result.stdout
    again = breach(*args, "--secret-destination", "secretsmanager:breach/{target}/access-key")
    assert again.exit_code == 0 and again.json["status"] == "noop"


@pytest.mark.aws
def test_secretsmanager_new_version_keeps_the_json_shape(
    aws: None, contain: Any, case: Case
) -> None:
    sm = boto3.client("secretsmanager")
    old = "old-password-8c1f0e"
    sm.create_secret(
        Name="db/app", SecretString=json.dumps({"username": "app", "password": old, "host": "db"})
    )
    since = rfc3339(utcnow())
    args = (
        "--adapter",
        "secretsmanager",
        "--target",
        "db/app",
        "--target",
        "db/missing",
        "--since",
        since,
    )
    result = contain("rotate-keys", *args)
    assert result.exit_code == 1
    targets = by_name(result.json)
    assert targets["db/missing"]["status"] == "missing"
    value = json.loads(sm.get_secret_value(SecretId="db/app")["SecretString"])
    assert value["username"] == "app" and value["host"] == "db" and value["password"] != old
    assert value["password"] not in result.stdout
    assert_nowhere_in_case(case, value["password"], old)
    assert targets["db/app"]["after"]["version_id"] != targets["db/app"]["before"]["version_id"]
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId="db/app")["Tags"]}
    assert tags["breachkit:rotated-version"] == targets["db/app"]["after"]["version_id"]
    again = contain(
        "rotate-keys", "--adapter", "secretsmanager", "--target", "db/app", "--since", since
    )
    assert again.json["status"] == "noop"
    assert json.loads(sm.get_secret_value(SecretId="db/app")["SecretString"]) == value


def write_key(path: Path) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def test_signing_key_rotation(contain: Any, case: Case, tmp_path: Path) -> None:
    old = tmp_path / "signer.pem"
    old_id = write_key(old)
    old_bytes = old.read_bytes()
    since = rfc3339(utcnow())
    result = contain(
        "rotate-keys", "--adapter", "signing-key", "--target", str(old), "--since", since
    )
    assert result.exit_code == 0, result.stderr
    target = result.json["targets"][0]
    assert target["before"]["keyid"] == old_id
    new_path = Path(target["after"]["path"])
    assert new_path.parent == old.parent and new_path != old
    assert stat.S_IMODE(new_path.stat().st_mode) == 0o600 and target["after"]["mode"] == "0600"
    new_key = serialization.load_pem_private_key(new_path.read_bytes(), password=None)
    der = new_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert target["after"]["keyid"] == hashlib.sha256(der).hexdigest() != old_id
    assert old.read_bytes() == old_bytes  # the old key stays: old bundles verify with it
    record = json.loads(old.with_name("signer.pem.rotation.json").read_text())
    assert record["old_keyid"] == old_id and record["new_keyid"] == target["after"]["keyid"]
    assert "PRIVATE" not in result.stdout
    again = contain(
        "rotate-keys", "--adapter", "signing-key", "--target", str(old), "--since", since
    )
    assert again.json["status"] == "noop"
    missing = contain(
        "rotate-keys", "--adapter", "signing-key", "--target", str(tmp_path / "nope.pem")
    )
    assert missing.exit_code == 1 and missing.json["targets"][0]["status"] == "missing"


@pytest.mark.aws
def test_secretsmanager_rotate_mode_starts_the_rotation(aws: None, contain: Any) -> None:
    sm = boto3.client("secretsmanager")
    old = sm.create_secret(Name="api/token", SecretString="tok-old-4c9e")["VersionId"]
    args = ("--adapter", "secretsmanager", "--secret-mode", "rotate", "--target", "api/token")
    result = contain("rotate-keys", *args)
    assert result.exit_code == 0, result.stdout
    target = result.json["targets"][0]
    assert target["change"] == "start rotation" and target["before"]["version_id"] == old
    stages = {
        v["VersionId"]: v["VersionStages"]
        for v in sm.list_secret_version_ids(SecretId="api/token")["Versions"]
    }
    assert stages[old] == ["AWSPREVIOUS"]
    assert stages[target["after"]["version_id"]] == ["AWSCURRENT"]
    assert result.json["settings"] == {"mode": "rotate"}
    assert contain("rotate-keys", *args).json["status"] == "noop"  # tagged after the read-back


@pytest.mark.aws
def test_iam_access_key_not_stored_is_deleted_and_the_next_user_still_rotated(
    aws: None, breach: Any, tmp_path: Path
) -> None:
    iam = boto3.client("iam")
    old = {}
    for user in ("blocked", "ci"):
        iam.create_user(UserName=user)
        old[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    time.sleep(1.001 - utcnow().microsecond / 1e6)  # IAM dates are whole seconds
    case = Case.open("INC-KEYS", "P1", "leaked key", root=tmp_path / "keys-case")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "blocked").write_text("a file where a folder is needed")
    result = breach(
        "contain", "rotate-keys", "--case", str(case.root), "--json",
        "--adapter", "iam-access-key", "--target", "blocked", "--target", "ci",
        "--secret-destination", f"file:{tmp_path}/keys/{{target}}/secret",
    )  # fmt: skip
    assert result.exit_code == 1
    got = by_name(result.json)
    assert got["blocked"]["status"] == "failed"
    assert "the new key was deleted" in got["blocked"]["reason"]
    assert got["ci"]["status"] == "ok"

    def keys(user: str) -> dict[str, str]:
        listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in listed}

    assert keys("blocked") == {old["blocked"]: "Active"}  # no orphan key, the old one untouched
    assert keys("ci")[old["ci"]] == "Inactive" and len(keys("ci")) == 2
