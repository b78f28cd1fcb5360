"""Decrypt a bundle's artifacts, checking each plaintext against the signed statement."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput, StepFailed
from core.fsio import atomic_open, resolve_inside
from manifests import dsse
from manifests.keys import Identity
from manifests.seal import ENVELOPE
from manifests.stream import decrypt


@dataclass(frozen=True)
class DecryptedArtifact:
    name: str
    path: Path
    sha256: str
    size: int


def signed_artifacts(bag: Path) -> list[dict[str, Any]]:
    """The artifact records of the bundle's statement (verify the bundle first to trust them)."""
    if not (bag / ENVELOPE).is_file():
        raise BadInput(f"{bag} is not a bundle (no {ENVELOPE})")
    _, payload, _ = dsse.parse((bag / ENVELOPE).read_bytes(), source=ENVELOPE)
    try:
        artifacts = json.loads(payload)["predicate"]["artifacts"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise BadInput(f"{bag / ENVELOPE}: the statement has no artifact list") from None
    if not isinstance(artifacts, list):
        raise BadInput(f"{bag / ENVELOPE}: the statement's artifact list is malformed")
    return artifacts


def decrypt_bundle(bag: Path, identities: list[Identity], out: Path) -> list[DecryptedArtifact]:
    """Decrypt every artifact under `out`, never outside it; a plaintext that differs from its
    signed sha256 is removed and reported."""
    artifacts = signed_artifacts(bag)
    targets = [(a, resolve_inside(out, str(a["name"]))) for a in artifacts]
    payloads = [(a, resolve_inside(bag, str(a["payload"]))) for a in artifacts]
    done: list[DecryptedArtifact] = []
    mismatches: list[str] = []
    for (artifact, target), (_, source) in zip(targets, payloads, strict=True):
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise BadInput(f"payload {artifact['payload']} is missing from the bundle") from None
        with src, atomic_open(target, "wb", perms=0o600) as dst:
            sha, size = decrypt(src, dst, identities, name=str(artifact["payload"]))
        expected = artifact.get("plaintext", {}).get("sha256")
        if sha != expected:
            os.unlink(target)
            mismatches.append(
                f"{artifact['name']}: plaintext sha256 {sha[:16]}… differs from the signed {str(expected)[:16]}…"
            )
            continue
        done.append(DecryptedArtifact(str(artifact["name"]), target, sha, size))
    if mismatches:
        raise StepFailed(
            "decrypted content does not match the signed statement: " + "; ".join(mismatches)
        )
    return done
