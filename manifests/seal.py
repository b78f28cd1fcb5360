"""Seal staged artifacts into a bundle: encrypt, hash, sign, lay out as a BagIt bag, then rename.

<bundle>/bagit.txt bag-info.txt manifest-sha256.txt data/<artifact>.age statement.dsse.json
         signer.pub.pem VERIFY.md tagmanifest-sha256.txt (last) custody.jsonl (grows later)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import faults
from core.errors import BadInput
from core.fsio import disk_errors, fsync_dir, fsync_tree, safe_relpath
from core.progress import expect
from core.timeutil import rfc3339, utcnow
from manifests import bagit, custody, dsse, statement, stream, verify_doc
from manifests.keys import Recipient, keyid
from manifests.signing import Signer, signature_entry, signer_pem
from manifests.staging import StagedArtifact

ENVELOPE = "statement.dsse.json"
SIGNER_PEM = "signer.pub.pem"
VERIFY_MD = "VERIFY.md"
TAG_FILES = ("bagit.txt", "bag-info.txt", bagit.PAYLOAD_MANIFEST, ENVELOPE, SIGNER_PEM, VERIFY_MD)


@dataclass(frozen=True)
class PreviousBundle:
    id: str
    envelope_sha256: str


@dataclass(frozen=True)
class SealOptions:
    incident_id: str
    recipients: list[Recipient]
    recipient_names: list[str]
    signer: Signer
    operator: str
    tool_version: str
    severity: str | None = None
    previous: PreviousBundle | None = None
    bundle_id: str | None = None
    progress: Callable[[int], None] | None = field(default=None, compare=False)
    # A case's seal signs its journal's head (the last entry's seq and line sha256), so a
    # journal rewritten or cut short later is caught against any bundle verified since.
    journal: dict[str, Any] | None = None


@dataclass(frozen=True)
class SealedBundle:
    id: str
    path: Path
    envelope_sha256: str
    artifacts: list[dict[str, Any]]


def new_bundle_id(incident_id: str) -> str:
    return f"{incident_id}-{utcnow().strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def seal(artifacts: list[StagedArtifact], out: Path, options: SealOptions) -> SealedBundle:
    """Write the bundle under a temporary name and rename it into place only when complete."""
    sealed, work = build(artifacts, out, options)
    try:
        with disk_errors(out):
            os.rename(work, out)
            fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return sealed


def build(
    artifacts: list[StagedArtifact], out: Path, options: SealOptions
) -> tuple[SealedBundle, Path]:
    """Write the complete bundle, fsynced, under a hidden name beside `out`; returns it and that
    folder. Renaming it to `out` is the caller's commit (a case's is its journal entry first)."""
    if not artifacts:
        raise BadInput("nothing to seal: no staged artifact", hint="stage evidence first")
    if out.exists():
        raise BadInput(f"{out} already exists; a sealed bundle is never overwritten")
    payloads = _payload_names(artifacts)
    expect(options.progress, sum(a.path.stat().st_size for a in artifacts))  # bytes to encrypt
    bundle_id = options.bundle_id or new_bundle_id(options.incident_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    try:
        with disk_errors(out):
            work.mkdir()
            (work / "data").mkdir()
            faults.point("seal.started")
            records = [
                _encrypt_artifact(a, work / payloads[a.name], payloads[a.name], options)
                for a in artifacts
            ]
            envelope_sha = _write_tag_files(work, bundle_id, records, options)
            faults.point("seal.signed")
            fsync_tree(work)
            faults.point("seal.built")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return SealedBundle(bundle_id, out, envelope_sha, records), work


def _payload_names(artifacts: list[StagedArtifact]) -> dict[Any, str]:
    names: dict[Any, str] = {}
    taken: dict[str, str] = {}
    for artifact in artifacts:
        safe_relpath(str(artifact.name))
        payload = f"data/{bagit.safe_payload_name(str(artifact.name))}.age"
        if payload in taken:
            raise BadInput(
                f"artifacts {taken[payload]!r} and {artifact.name!s} map to one payload name"
            )
        taken[payload] = str(artifact.name)
        names[artifact.name] = payload
    return names


def _encrypt_artifact(
    artifact: StagedArtifact, target: Path, payload: str, options: SealOptions
) -> dict[str, Any]:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = open(artifact.path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BadInput(f"cannot read artifact {artifact.path}: {exc.strerror}") from None
    with src, open(target, "wb", buffering=0) as dst:
        digests = stream.encrypt(src, dst, options.recipients)  # fsynced with the tree below
    faults.point("seal.encrypted")
    if options.progress:
        options.progress(digests.plain_size)
    record: dict[str, Any] = {
        "name": str(artifact.name),
        "payload": payload,
        "media_type": artifact.media_type,
        "encryption": "age-encryption.org/v1",
        "plaintext": {"sha256": digests.plain_sha256, "size": digests.plain_size},
        "ciphertext": {"sha256": digests.cipher_sha256, "size": digests.cipher_size},
    }
    for key in ("source", "collector"):
        if key in artifact.meta:
            record[key] = artifact.meta[key]
    return record


def _predicate(
    bundle_id: str, records: list[dict[str, Any]], options: SealOptions
) -> dict[str, Any]:
    previous = options.previous
    return {
        "bundle": {
            "id": bundle_id,
            "incident": {"id": options.incident_id, "severity": options.severity},
            "created_at": rfc3339(utcnow()),
            "created_by": options.operator,
            "tool": {"name": "breachkit", "version": options.tool_version},
            "recipients": options.recipient_names,
            "previous": (
                {"id": previous.id, "envelope_sha256": previous.envelope_sha256}
                if previous
                else None
            ),
            **({"journal": options.journal} if options.journal else {}),
        },
        "artifacts": records,
    }


def _write_tag_files(
    work: Path, bundle_id: str, records: list[dict[str, Any]], options: SealOptions
) -> str:
    subjects = {r["payload"]: r["ciphertext"]["sha256"] for r in records}
    body = json.dumps(
        statement.build(subjects, _predicate(bundle_id, records, options)), indent=2, sort_keys=True
    ).encode()
    signature = signature_entry(options.signer, dsse.pae(dsse.IN_TOTO, body))
    envelope = json.dumps(dsse.envelope(body, dsse.IN_TOTO, [signature]), indent=2).encode() + b"\n"
    signer_id = keyid(options.signer.public_key)
    oxum = f"{sum(r['ciphertext']['size'] for r in records)}.{len(records)}"
    files = {
        "bagit.txt": bagit.BAGIT_TXT,
        "bag-info.txt": bagit.bag_info_text(
            [
                ("Source-Organization", "breachkit"),
                ("External-Identifier", bundle_id),
                ("Bagging-Date", utcnow().date().isoformat()),
                ("Payload-Oxum", oxum),
                ("Contact-Name", options.operator),
                (
                    "Internal-Sender-Description",
                    f"Sealed evidence for incident {options.incident_id}",
                ),
                ("Breachkit-Signer-Keyid", signer_id),
            ]
        ),
        bagit.PAYLOAD_MANIFEST: bagit.manifest_text(subjects),
        VERIFY_MD: verify_doc.render(
            bundle_id, options.incident_id, signer_id, options.signer.algorithm
        ),
    }
    for name, text in files.items():
        (work / name).write_text(text, encoding="utf-8")
    (work / ENVELOPE).write_bytes(envelope)
    (work / SIGNER_PEM).write_bytes(signer_pem(options.signer))
    tags = {name: stream.sha256_file(work / name) for name in TAG_FILES}
    (work / bagit.TAG_MANIFEST).write_text(bagit.manifest_text(tags), encoding="utf-8")
    envelope_sha = hashlib.sha256(envelope).hexdigest()
    custody.record(
        work,
        "sealed",
        options.signer,
        who=options.operator,
        details={
            "bundle": bundle_id,
            "envelope_sha256": envelope_sha,
            "tagmanifest_sha256": stream.sha256_file(work / bagit.TAG_MANIFEST),
        },
    )
    return envelope_sha
