"""Generate the keys a case needs: an Ed25519 signing key pair and an age identity."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from manifests import keys


class GenerateKeysSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    out: Path
    passphrase: SecretStr | None = None
    name: str = "signing"


class GeneratedKeysResult(BaseModel):
    signing_key: Path
    signing_pub: Path
    signing_keyid: str
    encrypted: bool
    age_identity: Path
    age_recipient: str


def generate_keys(settings: GenerateKeysSettings) -> GeneratedKeysResult:
    """Ed25519 signing key (PEM, 0600) + public key, and an age X25519 identity + recipient."""
    passphrase = settings.passphrase.get_secret_value() if settings.passphrase else None
    made = keys.generate(settings.out, passphrase=passphrase or None, name=settings.name)
    return GeneratedKeysResult(
        signing_key=made.signing_key,
        signing_pub=made.signing_pub,
        signing_keyid=made.signing_keyid,
        encrypted=bool(passphrase),
        age_identity=made.age_identity,
        age_recipient=made.recipient,
    )
