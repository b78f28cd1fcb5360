"""Signers: a local Ed25519 key, or an AWS KMS asymmetric key (ECDSA P-256 over sha256)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key

from core.errors import BadInput, StepFailed
from core.permissions import AwsCall
from manifests.keys import PublicKey, keyid, load_signing_key, public_pem

if TYPE_CHECKING:
    from core.aws import AwsAccount

KMS_RAW_LIMIT = 4096  # KMS signs messages up to 4 KiB itself; larger ones go as a digest


class Signer(Protocol):
    """Signs bytes; `sign` returns the raw signature (Ed25519: 64 bytes; ECDSA: DER)."""

    @property
    def public_key(self) -> PublicKey: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class Ed25519Signer:
    algorithm = "ed25519"

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key

    @property
    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


class KmsSigner:
    """An AWS KMS ECC_NIST_P256 key: ECDSA_SHA_256, so `openssl dgst -sha256 -verify` checks it."""

    algorithm = "ecdsa-p256-sha256"

    def __init__(self, key_id: str, client: Any) -> None:
        self.key_id = key_id
        self._client = client
        response = _kms_call(client.get_public_key, "kms:GetPublicKey", KeyId=key_id)
        key = load_der_public_key(response["PublicKey"])
        spec = response.get("KeySpec", type(key).__name__)
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise BadInput(
                f"KMS key {key_id} is {spec}, not ECC_NIST_P256",
                hint="create it with --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY",
            )
        self._public = key

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        # Same signature either way: ECDSA over sha256(data). RAW is limited to 4 KiB.
        if len(data) <= KMS_RAW_LIMIT:
            message, kind = data, "RAW"
        else:
            message, kind = hashlib.sha256(data).digest(), "DIGEST"
        response = _kms_call(
            self._client.sign,
            "kms:Sign",
            KeyId=self.key_id,
            Message=message,
            MessageType=kind,
            SigningAlgorithm="ECDSA_SHA_256",
        )
        return bytes(response["Signature"])


def local_signer(path: Path, passphrase: str | None = None) -> Ed25519Signer:
    """An Ed25519 signer from a PEM private key (encrypted keys need their passphrase)."""
    return Ed25519Signer(load_signing_key(path, passphrase))


# What signing with a KMS key calls (the key's public half once, then one Sign per seal).
KMS_SIGNING = (
    AwsCall("kms:GetPublicKey", "arn:aws:kms:{region}:{account}:key/{kms_key}"),
    AwsCall("kms:Sign", "arn:aws:kms:{region}:{account}:key/{kms_key}"),
)


def kms_signer(key_id: str, account: AwsAccount) -> KmsSigner:
    """A KMS signer in `account`: its profile, region, endpoint and the role it assumes.

    The account's session is made here, so a role that cannot be assumed fails before anything
    is sealed.
    """
    return KmsSigner(key_id, account.client("kms"))


def _kms_call(method: Any, action: str, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from core.aws import DENIED_CODES, translate

    try:
        return method(**kwargs)
    except ClientError as exc:
        failed = translate(exc)  # the API's own code and message, also from an XML error body
        detail = failed.detail or failed.message
        hint = f"the signer needs {action}" if failed.code in DENIED_CODES else None
        raise StepFailed(f"KMS: {failed.code}: {detail}", hint=hint) from None
    except BotoCoreError as exc:
        raise StepFailed(
            f"KMS: {exc}", hint="check --region, credentials and --endpoint-url"
        ) from None


def signature_entry(signer: Signer, data: bytes) -> dict[str, str]:
    """A DSSE/custody signature object: keyid and base64 signature."""
    return {"keyid": keyid(signer.public_key), "sig": base64.b64encode(signer.sign(data)).decode()}


def verify(public_key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def signer_pem(signer: Signer) -> bytes:
    return public_pem(signer.public_key)
