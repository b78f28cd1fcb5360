"""Seal a case's staged evidence (or a plain folder), and keep the case's bundle chain.

breach.case (and with it pydantic) is imported only where a case is used, so that `breach verify`
on a bundle starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breach import __version__
from core.errors import BadInput
from core.operator import operator
from manifests import custody
from manifests.keys import Recipient
from manifests.seal import PreviousBundle, SealedBundle, SealOptions, new_bundle_id, seal
from manifests.signing import Signer
from manifests.staging import StagedArtifact, staged_artifacts

if TYPE_CHECKING:
    from breach.case import Case


def _fingerprint(artifact: StagedArtifact) -> dict[str, int]:
    stat = artifact.path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def unsealed_artifacts(case: Case) -> list[StagedArtifact]:
    """Staged artifacts not sealed yet, or changed since they were sealed."""
    sealed = case.record.sealed
    fresh = []
    for artifact in staged_artifacts(case.staging):
        seen = sealed.get(str(artifact.name))
        if seen is None or {k: seen.get(k) for k in ("size", "mtime_ns")} != _fingerprint(artifact):
            fresh.append(artifact)
    return fresh


def seal_case(
    case: Case,
    recipients: list[Recipient],
    recipient_names: list[str],
    signer: Signer,
    progress: Callable[[int], None] | None = None,
) -> SealedBundle:
    artifacts = unsealed_artifacts(case)
    if not artifacts:
        raise BadInput(
            f"nothing new to seal in {case.staging}", hint="every staged artifact is sealed already"
        )
    last = case.record.last_bundle
    bundle_id = new_bundle_id(case.id)
    options = SealOptions(
        incident_id=case.id,
        severity=case.record.severity,
        recipients=recipients,
        recipient_names=recipient_names,
        signer=signer,
        operator=operator(),
        tool_version=__version__,
        previous=PreviousBundle(last["id"], last["envelope_sha256"]) if last else None,
        bundle_id=bundle_id,
        progress=progress,
    )
    bundle = seal(artifacts, case.bundles / bundle_id, options)
    sealed = dict(case.record.sealed)
    for artifact, record in zip(artifacts, bundle.artifacts, strict=True):
        sealed[str(artifact.name)] = {
            **_fingerprint(artifact),
            "sha256": record["plaintext"]["sha256"],
            "bundle": bundle.id,
        }
    # Bookkeeping for the next seal; the journal entry below is the record of what happened.
    case.record.last_bundle = {"id": bundle.id, "envelope_sha256": bundle.envelope_sha256}
    case.record.sealed = sealed
    case.save()
    case.journal(
        "evidence.seal",
        where=str(bundle.path),
        details={
            "bundle": bundle.id,
            "envelope_sha256": bundle.envelope_sha256,
            "artifacts": len(bundle.artifacts),
            "previous": last["id"] if last else None,
        },
    )
    return bundle


def seal_folder(
    source: Path,
    out: Path,
    incident_id: str,
    recipients: list[Recipient],
    recipient_names: list[str],
    signer: Signer,
    severity: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> SealedBundle:
    if not source.is_dir():
        raise BadInput(f"source folder not found: {source}")
    artifacts = staged_artifacts(source)
    if not artifacts:
        raise BadInput(f"nothing to seal: {source} holds no file")
    options = SealOptions(
        incident_id=incident_id,
        severity=severity,
        recipients=recipients,
        recipient_names=recipient_names,
        signer=signer,
        operator=operator(),
        tool_version=__version__,
        progress=progress,
    )
    return seal(artifacts, out, options)


def case_of_bundle(bundle: Path) -> Case | None:
    """The case a bundle lives in (<case>/bundles/<id>), if any."""
    parent = bundle.resolve().parent
    if parent.name == "bundles" and (parent.parent / "case.json").is_file():
        from breach.case import Case

        return Case.load(parent.parent)
    return None


def record_custody(
    bundle: Path, event: str, signer: Signer, why: str | None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Append a custody event to the bundle's log, and to its case's journal when it has one."""
    entry = custody.record(bundle, event, signer, who=operator(), why=why, details=details)
    case = case_of_bundle(bundle)
    if case is not None:
        case.journal(
            f"custody.{event}",
            why=why,
            where=str(bundle),
            details={"bundle": bundle.name, "custody_seq": entry["seq"], **(details or {})},
        )
    return entry
