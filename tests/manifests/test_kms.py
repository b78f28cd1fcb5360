"""Signing with an AWS KMS key (moto): ECDSA P-256 over sha256 of the PAE, checked by openssl."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.aws


class DigestHonouringKms:
    """A stand-in KMS client for the >4 KiB path: moto ignores MessageType=DIGEST (it hashes the
    digest again), so this fake signs the way real KMS does: RAW hashes, DIGEST is pre-hashed."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.calls: list[str] = []

    def get_public_key(self, KeyId: str) -> dict[str, object]:
        from cryptography.hazmat.primitives import serialization

        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"PublicKey": der, "KeySpec": "ECC_NIST_P256"}

    def sign(
        self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str
    ) -> dict[str, object]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, utils

        self.calls.append(MessageType)
        algorithm = ec.ECDSA(
            utils.Prehashed(hashes.SHA256()) if MessageType == "DIGEST" else hashes.SHA256()
        )
        return {"Signature": self.key.sign(Message, algorithm)}


@pytest.mark.parametrize("size", [100, 50_000])
def test_kms_signer_signs_small_payloads_raw_and_large_ones_as_a_digest(size: int) -> None:
    from manifests.signing import KmsSigner, verify

    client = DigestHonouringKms()
    signer = KmsSigner("alias/x", client)
    message = b"x" * size
    assert verify(signer.public_key, signer.sign(message), message)
    assert client.calls == (["RAW"] if size <= 4096 else ["DIGEST"])
