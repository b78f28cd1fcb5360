"""Choose and load the signer: a local Ed25519 PEM or an AWS KMS key."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from core.errors import BadInput
from manifests.keys import load_signing_key
from manifests.signing import Ed25519Signer, KmsSigner, Signer, kms_signer

PASSPHRASE_ENV = "BREACH_KEY_PASSPHRASE"


def load_local_signer(path: Path) -> Ed25519Signer:
    """Passphrase from BREACH_KEY_PASSPHRASE, else a prompt when the key is encrypted and a
    person is at the terminal."""
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        return Ed25519Signer(load_signing_key(path, passphrase))
    except BadInput as exc:
        if passphrase is None and "is encrypted" in exc.message and sys.stdin.isatty():
            typed = click.prompt(f"passphrase for {path}", hide_input=True)
            return Ed25519Signer(load_signing_key(path, typed))
        raise


def load_signer(
    signing_key: Path | None,
    kms_key: str | None,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> Signer:
    if signing_key and kms_key:
        raise BadInput("give --signing-key or --kms-key, not both")
    if signing_key:
        return load_local_signer(signing_key)
    if kms_key:
        signer: KmsSigner = kms_signer(
            kms_key, region=region, profile=profile, endpoint_url=endpoint_url
        )
        return signer
    raise BadInput(
        "no signer given",
        hint="pass --signing-key PEM (or BREACH_SIGNING_KEY) or --kms-key ARN_OR_ALIAS",
    )
