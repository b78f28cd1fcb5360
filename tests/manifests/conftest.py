"""Keys, a sample evidence folder, a sealed bundle and an IAM-guarded KMS key for the bundle tests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from manifests.keys import GeneratedKeys, generate


@pytest.fixture
def keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "keys")


@pytest.fixture
def other_keys(tmp_path: Path) -> GeneratedKeys:
    return generate(tmp_path / "other-keys")


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    src = tmp_path / "evidence"
    (src / "logs").mkdir(parents=True)
    (src / "logs" / "access.log").write_text("10.0.0.1 GET /admin 200\n" * 100)
    (src / "users.csv").write_text("id,email\n1,a@example.com\n2,b@example.com\n")
    (src / "dump.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB, several age chunks
    return src


@pytest.fixture
def seal_args(keys: GeneratedKeys) -> list[str]:
    return ["-r", str(keys.age_recipient), "--signing-key", str(keys.signing_key)]


@pytest.fixture
def bundle(breach, evidence: Path, tmp_path: Path, seal_args: list[str]) -> Path:
    out = tmp_path / "bundles" / "b1"
    result = breach("seal", evidence, "--out", out, "--incident", "INC-1", *seal_args)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture
def fresh_copy(bundle: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory of pristine copies of the sealed bundle to tamper with."""
    count = iter(range(1000))

    def make() -> Path:
        target = tmp_path / "copies" / f"c{next(count)}"
        shutil.copytree(bundle, target)
        return target

    return make


@dataclass(frozen=True)
class SignerRole:
    """A KMS signing key that only `role` may use; `responder` may assume the role, `outsider`
    may not. Credentials are switched with `act_as`; moto then enforces IAM on every call."""

    key_arn: str
    public_pem: bytes
    role_arn: str
    act_as: Callable[[str], None]


@pytest.fixture
def signer_role(aws: None, monkeypatch: pytest.MonkeyPatch) -> SignerRole:
    import boto3
    from cryptography.hazmat.primitives import serialization
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    iam, kms = boto3.client("iam"), boto3.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    der = kms.get_public_key(KeyId=key)["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    trust = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    role = iam.create_role(RoleName="ir-evidence-signer", AssumeRolePolicyDocument=_policy(trust))
    role_arn = role["Role"]["Arn"]
    # moto matches KMS calls against the resource "*" only, so the role's policy names "*".
    sign = {"Effect": "Allow", "Action": ["kms:GetPublicKey", "kms:Sign"], "Resource": "*"}
    iam.put_role_policy(
        RoleName="ir-evidence-signer", PolicyName="sign", PolicyDocument=_policy(sign)
    )
    assume = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
    credentials = {}
    for user, policy in (("responder", assume), ("outsider", None)):
        iam.create_user(UserName=user)
        if policy:
            iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=_policy(policy))
        credentials[user] = iam.create_access_key(UserName=user)["AccessKey"]

    def act_as(user: str) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials[user]["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials[user]["SecretAccessKey"])

    # From here on moto checks every request against IAM, as AWS does.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    return SignerRole(key, pem, role_arn, act_as)


def _policy(statement: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
