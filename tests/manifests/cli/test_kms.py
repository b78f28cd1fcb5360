"""Signing with an AWS KMS key (moto): ECDSA P-256 over sha256 of the PAE, checked by openssl."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from manifests.dsse import pae
from manifests.keys import GeneratedKeys
from tests.manifests.conftest import SignerRole

pytestmark = pytest.mark.aws


def create_signing_key(endpoint_url: str | None = None) -> str:
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint_url)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.create_alias(AliasName="alias/breach-evidence", TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def kms_public_key(key: str, folder: Path, endpoint_url: str | None = None) -> Path:
    """The sealer's public key as KMS itself gives it: the trust anchor comes from outside the
    bundle (its own signer.pub.pem is never trusted for being there)."""
    from cryptography.hazmat.primitives import serialization

    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint_url)
    der = kms.get_public_key(KeyId=key)["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = folder / "kms-sealer.pub.pem"
    path.write_bytes(pem)
    return path


def test_kms_signed_bundle_verifies_with_breach_and_openssl(
    aws, breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    create_signing_key()
    out = tmp_path / "kms-bundle"
    sealed = breach(
        "seal",
        evidence,
        "--out",
        out,
        "--incident",
        "INC-K",
        "-r",
        keys.recipient,
        "--kms-key",
        "alias/breach-evidence",
        "--region",
        "us-east-1",
    )
    assert sealed.exit_code == 0, sealed.stderr
    anchor = kms_public_key("alias/breach-evidence", tmp_path)
    report = breach("verify", out, "--pubkey", anchor, "--json")
    assert report.exit_code == 0, report.stdout
    assert (
        "ECC" not in (out / "signer.pub.pem").read_text()
        and "PUBLIC KEY" in (out / "signer.pub.pem").read_text()
    )
    assert "openssl dgst -sha256 -verify" in (out / "VERIFY.md").read_text()
    # The stock-tool half of the check: without openssl it is skipped, saying so (issue 16),
    # never passed silently.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install openssl); .ci/run installs it")
    env = json.loads((out / "statement.dsse.json").read_text())
    (tmp_path / "pae.bin").write_bytes(pae(env["payloadType"], base64.b64decode(env["payload"])))
    (tmp_path / "sig.der").write_bytes(base64.b64decode(env["signatures"][0]["sig"]))
    run = subprocess.run(
        [
            openssl,
            "dgst",
            "-sha256",
            "-verify",
            str(out / "signer.pub.pem"),
            "-signature",
            str(tmp_path / "sig.der"),
            str(tmp_path / "pae.bin"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "Verified OK" in run.stdout


def test_kms_through_the_moto_server_endpoint(
    moto_endpoint: str, breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    arn = create_signing_key(moto_endpoint)
    out = tmp_path / "kms-e2e"
    sealed = breach(
        "seal",
        evidence,
        "--out",
        out,
        "--incident",
        "INC-K",
        "-r",
        keys.recipient,
        "--kms-key",
        arn,
        "--region",
        "us-east-1",
        "--endpoint-url",
        moto_endpoint,
    )
    assert sealed.exit_code == 0, sealed.stderr
    anchor = kms_public_key(arn, tmp_path, moto_endpoint)
    assert breach("verify", out, "--pubkey", anchor).exit_code == 0


def test_kms_errors_are_one_line(
    aws, breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    result = breach(
        "seal",
        evidence,
        "--out",
        tmp_path / "x",
        "--incident",
        "I",
        "-r",
        keys.recipient,
        "--kms-key",
        "alias/does-not-exist",
        "--region",
        "us-east-1",
    )
    assert result.exit_code == 1 and "KMS: NotFoundException" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()
    kms = boto3.client("kms", region_name="us-east-1")
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    wrong = breach(
        "seal",
        evidence,
        "--out",
        tmp_path / "x",
        "--incident",
        "I",
        "-r",
        keys.recipient,
        "--kms-key",
        rsa,
        "--region",
        "us-east-1",
    )
    assert wrong.exit_code == 2 and "ECC_NIST_P256" in wrong.stderr


def test_seal_signs_with_kms_as_the_role_given_by_role_arn(
    signer_role: SignerRole, breach, evidence: Path, keys: GeneratedKeys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The responder may not use the key, the role may: sealing works only through --role-arn
    (it was accepted and ignored before), and a role that cannot be assumed is one line."""

    def seal(out: str, *more: str):  # type: ignore[no-untyped-def]
        kms = ["--kms-key", signer_role.key_arn, "--region", "us-east-1"]
        return breach("seal", evidence, "--out", tmp_path / out, "--incident", "INC-R",
                      "-r", keys.recipient, *kms, *more)  # fmt: skip

    signer_role.act_as("responder")
    direct = seal("direct")
    assert direct.exit_code == 1 and "KMS: AccessDenied" in direct.stderr, direct.stderr
    assert "kms:GetPublicKey" in direct.stderr and not (tmp_path / "direct").exists()

    assumed = seal("assumed", "--role-arn", signer_role.role_arn)
    assert assumed.exit_code == 0, assumed.stderr
    assert (tmp_path / "assumed" / "signer.pub.pem").read_bytes() == signer_role.public_pem
    (tmp_path / "kms.pub.pem").write_bytes(signer_role.public_pem)
    pinned = breach("verify", tmp_path / "assumed", "--pubkey", tmp_path / "kms.pub.pem")
    assert pinned.exit_code == 0, pinned.stdout

    signer_role.act_as("outsider")
    refused = seal("refused", "--role-arn", signer_role.role_arn)
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "AssumeRole: AccessDenied" in refused.stderr and "sts:AssumeRole" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "refused").exists()
