"""CloudTrail log file integrity, checked the way `aws cloudtrail validate-logs` checks it.

Every hour CloudTrail writes a digest file beside the logs,

    AWSLogs/[ORG/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_REGION_YYYYMMDDTHHMMSSZ.json.gz

a gzipped JSON document naming the log objects delivered in its hour (`logFiles`: s3Bucket,
s3Object, hashValue = hex SHA-256 of the object's *decompressed* content), its own place
(digestS3Bucket, digestS3Object), its period (digestStartTime, digestEndTime), the fingerprint of
the key that signed it, and its predecessor (previousDigestS3Object, previousDigestHashValue =
SHA-256 of the previous digest's decompressed content, previousDigestSignature). The signature
is not in the file: it is the object's S3 metadata `signature` (hex), SHA256withRSA over

    digestEndTime "\\n" digestS3Bucket "/" digestS3Object "\\n" hex(SHA-256(decompressed digest)) "\\n" previousDigestSignature

(the literal `null` for the first digest of a chain), verified with the public key ListPublicKeys
returns for that fingerprint (DER, PKCS#1).

Per log object the outcome is one of: valid (listed, hash matches, digest signature verifies),
invalid (hash or signature does not match), not covered (a digest covers its delivery hour but
does not list it), digest missing (no digest covers its delivery hour). Digests themselves are
preserved under digests/ and checked for their chain: a predecessor missing, a hash or signature
that does not match the predecessor, and hours no digest covers (gaps). A local copy of a trail
(--source) has no S3 metadata: hashes and the chain are checked, signatures cannot be.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.fsio import disk_errors
from core.timeutil import parse_rfc3339
from evidence.aws.cloudtrail_source import ReadFailed, S3Source, file_time, safe_name
from evidence.interface import FailedItem

if TYPE_CHECKING:
    from evidence.aws.cloudtrail import CloudTrailExport, ObjectRecord, Report

VALID, INVALID, NOT_COVERED, MISSING = "valid", "invalid", "not covered", "digest missing"


@dataclass
class Digest:
    key: str
    raw: bytes  # as stored (gzip)
    inflated: bytes
    body: dict[str, Any]
    signature: str | None  # hex, from the object's metadata
    algorithm: str | None
    file: str = ""
    signature_status: str = "not checked"
    problems: list[str] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return parse_rfc3339(str(self.body.get("digestStartTime")))

    @property
    def end(self) -> datetime:
        return parse_rfc3339(str(self.body.get("digestEndTime")))

    def sha256(self) -> str:
        return hashlib.sha256(self.inflated).hexdigest()


def string_to_sign(body: dict[str, Any], inflated: bytes) -> bytes:
    """What CloudTrail signs for a digest (as validate-logs builds it)."""
    previous = body.get("previousDigestSignature")
    return "{}\n{}/{}\n{}\n{}".format(
        body["digestEndTime"],
        body["digestS3Bucket"],
        body["digestS3Object"],
        hashlib.sha256(inflated).hexdigest(),
        "null" if previous is None else previous,
    ).encode()


def verify_signature(public_key_der: bytes, signature_hex: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_der_public_key(public_key_der)
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def public_keys(
    export: CloudTrailExport, region: str, start: datetime, end: datetime
) -> dict[str, bytes]:
    """fingerprint -> DER public key, from ListPublicKeys in the digest's region."""
    account = export.account_client
    found: dict[str, bytes] = {}
    client = account.session.client(
        "cloudtrail", region_name=region, endpoint_url=account.endpoint_url
    )
    token = None
    with account.calls(what="list CloudTrail's public keys"):
        while True:
            extra: dict[str, str] = {"NextToken": token} if token else {}
            page = client.list_public_keys(StartTime=start, EndTime=end, **extra)
            for item in page.get("PublicKeyList", []):
                found[str(item["Fingerprint"])] = _der(item["Value"])
            token = page.get("NextToken")
            if not token:
                return found


def _der(value: bytes | str) -> bytes:
    """The key as DER: botocore decodes the blob; the CLI's raw JSON leaves it base64."""
    import base64
    import binascii

    raw = value.encode() if isinstance(value, str) else value
    if raw[:1] == b"\x30":
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw


def _load(export: CloudTrailExport, key: str, tmp: Path) -> Digest:
    raw, metadata = export.source.read(key)
    file = f"digests/{safe_name(key)}"
    with disk_errors(tmp):
        (tmp / "digests").mkdir(exist_ok=True)
        (tmp / file).write_bytes(raw)
    try:
        inflated = gzip.decompress(raw)
        body = json.loads(inflated)
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except (OSError, EOFError, ValueError) as exc:
        digest = Digest(key, raw, b"", {}, None, None, file)
        digest.problems.append(f"unreadable digest: {exc}")
        return digest
    lowered = {k.lower().removeprefix("x-amz-meta-"): v for k, v in metadata.items()}
    return Digest(
        key, raw, inflated, body, lowered.get("signature"), lowered.get("signature-algorithm"), file
    )


def validate_objects(export: CloudTrailExport, report: Report, tmp: Path) -> dict[str, Any]:
    """Check every object of the report against the digests of its account and region; set
    each object's outcome, add failures to the report, return the digest summary."""
    groups: dict[tuple[str, str, str], list[ObjectRecord]] = {}
    for obj in report.objects:
        base = obj.key.split("/CloudTrail/", 1)[0] + "/"
        groups.setdefault((base, obj.account, obj.region), []).append(obj)
    summary: dict[str, Any] = {"digests": 0, "files": [], "chain": [], "gaps": []}
    for (base, _account, region), objects in sorted(groups.items()):
        _validate_group(export, report, tmp, base, region, objects, summary)
    counts: dict[str, int] = {}
    for obj in report.objects:
        if obj.digest:
            counts[obj.digest] = counts.get(obj.digest, 0) + 1
    summary["objects"] = counts
    return summary


def _validate_group(
    export: CloudTrailExport,
    report: Report,
    tmp: Path,
    base: str,
    region: str,
    objects: list[ObjectRecord],
    summary: dict[str, Any],
) -> None:
    days = sorted({o.day for o in objects})
    first = datetime.fromisoformat(days[0]).date()
    last = datetime.fromisoformat(days[-1]).date() + timedelta(days=1)
    digests: dict[str, Digest] = {}
    day = first
    while day <= last:
        folder = f"{base}CloudTrail-Digest/{region}/{day:%Y/%m/%d}/"
        try:
            items = export.source.objects(folder)
        except ReadFailed as exc:
            report.failed.append(FailedItem(folder, f"digests not readable: {exc.message}"))
            items = []
        for item in items:
            if item.key.endswith(".json.gz"):
                try:
                    digests[item.key] = _load(export, item.key, tmp)
                except ReadFailed as exc:
                    report.failed.append(
                        FailedItem(item.key, f"digest not readable: {exc.message}")
                    )
        day += timedelta(days=1)
    readable = sorted((d for d in digests.values() if d.body), key=lambda d: d.end)
    _check_signatures(export, region, readable)
    _check_chain(export, tmp, readable, digests, summary)
    _check_deleted(export, report, readable, base, region, summary)
    for obj in objects:
        _outcome(obj, readable)
        if obj.digest != VALID:
            report.failed.append(FailedItem(obj.key, f"digest: {obj.digest}: {obj.digest_detail}"))
    for digest in digests.values():
        summary["digests"] += 1
        summary["files"].append(
            {
                "key": digest.key,
                "file": digest.file,
                "sha256": hashlib.sha256(digest.raw).hexdigest(),
                "signature": digest.signature_status,
                "signature_hex": digest.signature,
                "start": digest.body.get("digestStartTime"),
                "end": digest.body.get("digestEndTime"),
                "problems": digest.problems,
            }
        )
        for problem in digest.problems:
            report.failed.append(FailedItem(digest.key, problem))


def _check_signatures(export: CloudTrailExport, region: str, digests: list[Digest]) -> None:
    if not digests:
        return
    if not isinstance(export.source, S3Source) or export.account_client is None:
        for digest in digests:
            digest.signature_status = "not checked (a local copy has no S3 metadata)"
        return
    start = min(d.start for d in digests)
    end = max(d.end for d in digests)
    keys = public_keys(export, region, start - timedelta(days=1), end + timedelta(days=1))
    for digest in digests:
        body = digest.body
        if body.get("digestS3Object") != digest.key or body.get("digestS3Bucket") != getattr(
            export.source, "bucket", None
        ):
            digest.signature_status = "invalid"
            digest.problems.append("the digest names another place: it was moved")
            continue
        if not digest.signature:
            digest.signature_status = "invalid"
            digest.problems.append("no signature in the object's metadata")
            continue
        key = keys.get(str(body.get("digestPublicKeyFingerprint")))
        if key is None:
            digest.signature_status = "invalid"
            digest.problems.append(
                f"no public key for fingerprint {body.get('digestPublicKeyFingerprint')}"
            )
            continue
        message = string_to_sign(body, digest.inflated)
        if verify_signature(key, digest.signature, message):
            digest.signature_status = "valid"
        else:
            digest.signature_status = "invalid"
            digest.problems.append("the signature does not verify")


def _check_chain(
    export: CloudTrailExport,
    tmp: Path,
    ordered: list[Digest],
    loaded: dict[str, Digest],
    summary: dict[str, Any],
) -> None:
    for index, digest in enumerate(ordered):
        previous_key = digest.body.get("previousDigestS3Object")
        if index and ordered[index - 1].end < digest.start:
            gap = {"from": ordered[index - 1].body.get("digestEndTime"),
                   "to": digest.body.get("digestStartTime")}  # fmt: skip
            summary["gaps"].append(gap)
            digest.problems.append(f"no digest covers {gap['from']} .. {gap['to']}")
        if not previous_key:
            if index:
                digest.problems.append("the chain restarts here (no previous digest named)")
            continue
        previous = loaded.get(str(previous_key))
        if previous is None:
            try:
                previous = _load(export, str(previous_key), tmp)
            except ReadFailed as exc:
                digest.problems.append(
                    f"its previous digest {previous_key} is missing ({exc.code})"
                )
                summary["chain"].append({"digest": digest.key, "problem": "previous missing"})
                continue
            loaded[previous.key] = previous
        if digest.body.get("previousDigestHashValue") != previous.sha256():
            digest.problems.append(f"previousDigestHashValue does not match {previous_key}")
            summary["chain"].append({"digest": digest.key, "problem": "previous hash differs"})
        elif (
            previous.signature and digest.body.get("previousDigestSignature") != previous.signature
        ):
            digest.problems.append(f"previousDigestSignature does not match {previous_key}")
            summary["chain"].append({"digest": digest.key, "problem": "previous signature differs"})


def _check_deleted(
    export: CloudTrailExport,
    report: Report,
    digests: list[Digest],
    base: str,
    region: str,
    summary: dict[str, Any],
) -> None:
    """Objects a digest lists, that the window needs, and that are not there: deleted."""
    folder = f"{base}CloudTrail/{region}/"
    bucket = getattr(export.source, "bucket", None)
    for digest in digests:
        for entry in digest.body.get("logFiles") or []:
            key = entry.get("s3Object") if isinstance(entry, dict) else None
            if not isinstance(key, str) or not key.startswith(folder):
                continue
            if bucket is not None and entry.get("s3Bucket") not in (None, bucket):
                continue
            if key in export.planned_keys or not export.delivered_in_window(key):
                continue
            summary.setdefault("deleted", []).append({"key": key, "digest": digest.key})
            report.failed.append(
                FailedItem(
                    key, f"listed in {digest.key} but absent from {export.source.describe()}"
                )
            )


def _outcome(obj: ObjectRecord, digests: list[Digest]) -> None:
    for digest in digests:
        for entry in digest.body.get("logFiles") or []:
            if isinstance(entry, dict) and entry.get("s3Object") == obj.key:
                if entry.get("hashValue") != obj.inflated_sha256:
                    obj.digest, obj.digest_detail = INVALID, f"SHA-256 differs from {digest.key}"
                elif digest.signature_status == "invalid":
                    obj.digest = INVALID
                    obj.digest_detail = f"listed in {digest.key}, whose signature is invalid"
                else:
                    obj.digest = VALID
                    obj.digest_detail = f"{digest.key} (signature {digest.signature_status})"
                return
    delivered = file_time(obj.key)
    for digest in digests:
        if delivered is not None and digest.start <= delivered < digest.end + timedelta(minutes=1):
            obj.digest, obj.digest_detail = NOT_COVERED, f"{digest.key} does not list it"
            return
    obj.digest, obj.digest_detail = MISSING, "no digest covers its delivery time"
