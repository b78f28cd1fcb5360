"""manifests: the evidence bundle format.

Hashing, age encryption, DSSE signing, the BagIt layout, the custody log and verification. It
imports no other breachkit package but `core` and needs no network (but for the optional KMS
signer), so legal's verifier stays small.

The public API, by what a library user does:

    seal      seal_bundle(artifacts, out, SealOptions(...)) -> SealedBundle;
              staged_artifacts(folder) -> [StagedArtifact]; PreviousBundle chains bundles
    verify    verify_bundle(bundle, load_trusted(pubkeys, trust_dirs, custodians)) -> Report
              (of Check); Trust: sealer and custodian keys, the checks waived by name
    decrypt   decrypt_bundle(bundle, load_identities(path), out) -> [DecryptedArtifact]
    custody   record_custody(bundle, event, signer, who=...), custody_entries(bundle),
              CUSTODY_EVENTS, CUSTODY_FILE
    keys      generate_keys(folder) -> GeneratedKeys; load_recipients, load_identities,
              load_signing_key, load_public_key_file; signers: local_signer(pem),
              kms_signer(key, core.aws.AwsAccount), Signer, Ed25519Signer, KmsSigner

Each name is imported on first use (PEP 562), so `import manifests` stays as light as the one
part a caller needs: verifying never loads boto3, and nothing here loads pydantic. The modules
beside this one (bagit, chain, dsse, statement, stream, ...) are the format's internals.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from core.errors import BadInput, BreachError, StepFailed

_EXPORTS = {
    # seal
    "seal_bundle": "manifests.seal:seal",
    "SealOptions": "manifests.seal:SealOptions",
    "SealedBundle": "manifests.seal:SealedBundle",
    "PreviousBundle": "manifests.seal:PreviousBundle",
    "StagedArtifact": "manifests.staging:StagedArtifact",
    "staged_artifacts": "manifests.staging:staged_artifacts",
    # verify
    "verify_bundle": "manifests.verify:verify_bundle",
    "load_trusted": "manifests.trust:load_trusted",
    "Trust": "manifests.trust:Trust",
    "Report": "manifests.verify:Report",
    "Check": "manifests.verify:Check",
    # decrypt
    "decrypt_bundle": "manifests.decrypt:decrypt_bundle",
    "DecryptedArtifact": "manifests.decrypt:DecryptedArtifact",
    # custody
    "record_custody": "manifests.custody:record",
    "custody_entries": "manifests.custody:entries",
    "CUSTODY_EVENTS": "manifests.custody:EVENTS",
    "CUSTODY_FILE": "manifests.custody:CUSTODY_FILE",
    # keys and signers
    "generate_keys": "manifests.keys:generate",
    "GeneratedKeys": "manifests.keys:GeneratedKeys",
    "load_recipients": "manifests.keys:load_recipients",
    "load_identities": "manifests.keys:load_identities",
    "load_signing_key": "manifests.keys:load_signing_key",
    "load_public_key_file": "manifests.keys:load_public_key_file",
    "Signer": "manifests.signing:Signer",
    "Ed25519Signer": "manifests.signing:Ed25519Signer",
    "KmsSigner": "manifests.signing:KmsSigner",
    "local_signer": "manifests.signing:local_signer",
    "kms_signer": "manifests.signing:kms_signer",
}

__all__ = [
    "CUSTODY_EVENTS",
    "CUSTODY_FILE",
    "BadInput",
    "BreachError",
    "Check",
    "DecryptedArtifact",
    "Ed25519Signer",
    "GeneratedKeys",
    "KmsSigner",
    "PreviousBundle",
    "Report",
    "SealOptions",
    "SealedBundle",
    "Signer",
    "StagedArtifact",
    "StepFailed",
    "Trust",
    "custody_entries",
    "decrypt_bundle",
    "generate_keys",
    "kms_signer",
    "load_identities",
    "load_public_key_file",
    "load_recipients",
    "load_signing_key",
    "load_trusted",
    "local_signer",
    "record_custody",
    "seal_bundle",
    "staged_artifacts",
    "verify_bundle",
]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'manifests' has no attribute {name!r}")
    module, attribute = target.split(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from manifests.custody import CUSTODY_FILE as CUSTODY_FILE
    from manifests.custody import EVENTS as CUSTODY_EVENTS
    from manifests.custody import entries as custody_entries
    from manifests.custody import record as record_custody
    from manifests.decrypt import DecryptedArtifact as DecryptedArtifact
    from manifests.decrypt import decrypt_bundle as decrypt_bundle
    from manifests.keys import GeneratedKeys as GeneratedKeys
    from manifests.keys import generate as generate_keys
    from manifests.keys import load_identities as load_identities
    from manifests.keys import load_public_key_file as load_public_key_file
    from manifests.keys import load_recipients as load_recipients
    from manifests.keys import load_signing_key as load_signing_key
    from manifests.seal import PreviousBundle as PreviousBundle
    from manifests.seal import SealedBundle as SealedBundle
    from manifests.seal import SealOptions as SealOptions
    from manifests.seal import seal as seal_bundle
    from manifests.signing import Ed25519Signer as Ed25519Signer
    from manifests.signing import KmsSigner as KmsSigner
    from manifests.signing import Signer as Signer
    from manifests.signing import kms_signer as kms_signer
    from manifests.signing import local_signer as local_signer
    from manifests.staging import StagedArtifact as StagedArtifact
    from manifests.staging import staged_artifacts as staged_artifacts
    from manifests.trust import Trust as Trust
    from manifests.trust import load_trusted as load_trusted
    from manifests.verify import Check as Check
    from manifests.verify import Report as Report
    from manifests.verify import verify_bundle as verify_bundle
