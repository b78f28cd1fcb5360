"""--validate-digests against digest files built as CloudTrail documents them, signed with a test
RSA key that a local endpoint serves as ListPublicKeys' answer (everything else it forwards to
moto's server): a tampered object, a missing digest and a broken previous-digest link are caught.

`CloudTrailEndpoint` (here) is the loopback endpoint the CLI tests use too: ListPublicKeys and
LookupEvents (which moto does not implement) answered from test data, AccessDenied on chosen GETs,
all else proxied to moto."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.evidence.test_cloudtrail import (
    ACCOUNT,
    KINDS,
    START,
    new_case,
    put_bucket,
    run,
    trail_objects,
)

BUCKET = "trail-bucket"
TRAIL = "org-trail"


class CloudTrailEndpoint:
    """A loopback HTTP endpoint in front of moto's server."""

    def __init__(self, moto_url: str) -> None:
        self.moto = urlparse(moto_url)
        self.moto_url = moto_url  # for setting up data directly (PUTs wait on Expect: 100)
        self.public_keys: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # LookupEvents' answers, newest first
        self.throttle_first = 0
        self.deny_get: list[str] = []
        self.calls: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                endpoint.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        target = req.headers.get("X-Amz-Target", "")
        if "CloudTrail_" in target:
            self.calls.append(target.split(".")[-1])
            return self._cloudtrail(req, target.split(".")[-1], json.loads(body or b"{}"))
        if req.command == "GET" and any(d in req.path for d in self.deny_get):
            xml = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            return self._send(req, 403, xml, "application/xml")
        conn = http.client.HTTPConnection(str(self.moto.hostname), self.moto.port, timeout=30)
        headers = {k: v for k, v in req.headers.items() if k.lower() != "host"}
        conn.request(req.command, req.path, body=body or None, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        req.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in (
                "transfer-encoding",
                "content-length",
                "connection",
                "server",
                "date",
            ):
                req.send_header(key, value)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)
        conn.close()

    def _cloudtrail(
        self, req: BaseHTTPRequestHandler, operation: str, body: dict[str, Any]
    ) -> None:
        if operation == "ListPublicKeys":
            return self._send(req, 200, json.dumps({"PublicKeyList": self.public_keys}).encode())
        if operation == "LookupEvents":
            if self.throttle_first > 0:
                self.throttle_first -= 1
                error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                return self._send(req, 400, json.dumps(error).encode())
            start = int(body.get("NextToken") or 0)
            size = int(body.get("MaxResults") or 50)
            low, high = float(body["StartTime"]), float(body["EndTime"])
            chosen = [e for e in self.events if low <= e["EventTime"] <= high]
            page = chosen[start : start + size]
            answer: dict[str, Any] = {"Events": page}
            if start + size < len(chosen):
                answer["NextToken"] = str(start + size)
            return self._send(req, 200, json.dumps(answer).encode())
        error = {"__type": "UnknownOperationException", "message": operation}
        return self._send(req, 400, json.dumps(error).encode())

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, data: bytes,
              kind: str = "application/x-amz-json-1.1") -> None:  # fmt: skip
        req.send_response(status)
        req.send_header("Content-Type", kind)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)


@pytest.fixture
def endpoint(moto_endpoint: str) -> Iterator[CloudTrailEndpoint]:
    found = CloudTrailEndpoint(moto_endpoint)
    yield found
    found.stop()


# -- digests as CloudTrail writes them -------------------------------------------------------
class Signer:
    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        self.fingerprint = hashlib.md5(self.der).hexdigest()

    def listing(self) -> dict[str, Any]:
        return {
            "Value": base64.b64encode(self.der).decode(),
            "ValidityStartTime": (START - timedelta(days=30)).timestamp(),
            "ValidityEndTime": (START + timedelta(days=30)).timestamp(),
            "Fingerprint": self.fingerprint,
        }

    def sign(self, message: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_digests(
    signer: Signer, objects: dict[str, bytes], hours: int, region: str = "us-east-1"
) -> dict[str, tuple[bytes, dict[str, str]]]:
    """One digest an hour from START over `hours`, each listing the objects delivered in it,
    chained and signed: key -> (gzip bytes, S3 metadata)."""
    from evidence.aws.cloudtrail_source import file_time

    out: dict[str, tuple[bytes, dict[str, str]]] = {}
    previous: tuple[str, str, str] | None = None  # key, sha256 of inflated, signature
    for hour in range(hours):
        start, end = START + timedelta(hours=hour), START + timedelta(hours=hour + 1)
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail-Digest_{region}_{TRAIL}_{region}_{end:%Y%m%dT%H%M%SZ}.json.gz"
        )
        logs = []
        for log_key, data in sorted(objects.items()):
            delivered = file_time(log_key)
            if delivered and start <= delivered < end and f"/{region}/" in log_key:
                logs.append(
                    {
                        "s3Bucket": BUCKET,
                        "s3Object": log_key,
                        "hashValue": hashlib.sha256(gzip.decompress(data)).hexdigest(),
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": _stamp(delivered),
                        "oldestEventTime": _stamp(delivered - timedelta(hours=1)),
                    }
                )
        body: dict[str, Any] = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": _stamp(start),
            "digestEndTime": _stamp(end),
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": signer.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": _stamp(end),
            "oldestEventTime": _stamp(start),
            "previousDigestS3Bucket": BUCKET if previous else None,
            "previousDigestS3Object": previous[0] if previous else None,
            "previousDigestHashValue": previous[1] if previous else None,
            "previousDigestHashAlgorithm": "SHA-256" if previous else None,
            "previousDigestSignature": previous[2] if previous else None,
            "logFiles": logs,
        }
        inflated = json.dumps(body).encode()
        to_sign = "{}\n{}/{}\n{}\n{}".format(
            body["digestEndTime"], BUCKET, key, hashlib.sha256(inflated).hexdigest(),
            previous[2] if previous else "null",
        ).encode()  # fmt: skip
        signature = signer.sign(to_sign)
        meta = {"signature": signature, "signature-algorithm": "SHA256withRSA"}
        out[key] = (gzip.compress(inflated, mtime=0), meta)
        previous = (key, hashlib.sha256(inflated).hexdigest(), signature)
    return out


def put_digests(endpoint: str, digests: dict[str, tuple[bytes, dict[str, str]]]) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    for key, (data, meta) in digests.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=meta)


def setup_trail(endpoint: CloudTrailEndpoint, hours: int = 4) -> tuple[dict[str, bytes], Signer]:
    objects = trail_objects(START, hours)
    put_bucket(BUCKET, objects, endpoint.moto_url)
    signer = Signer()
    endpoint.public_keys = [signer.listing()]
    put_digests(endpoint.moto_url, build_digests(signer, objects, hours + 2))
    return objects, signer


def digest_outcomes(case: Any, artifact: str) -> dict[str, str]:
    meta = json.loads((case.staging / artifact / "objects.meta.json").read_text())
    return {o["key"]: o["digest"] for o in meta["source"]["objects"]}


def validate(case: Any, endpoint: CloudTrailEndpoint, hours: int = 4) -> Any:
    return run(
        case, bucket=f"s3://{BUCKET}", since=START, until=START + timedelta(hours=hours + 1),
        validate_digests=True, endpoint_url=endpoint.url, regions=["us-east-1"],
    )  # fmt: skip


# -- tests ----------------------------------------------------------------------------------
def test_intact_trail_validates(tmp_path: Path, endpoint: CloudTrailEndpoint) -> None:
    objects, _ = setup_trail(endpoint)
    case = new_case(tmp_path)
    result = validate(case, endpoint)
    assert result.not_covered == [], result.not_covered
    assert result.digests == {"valid": 4}
    assert set(digest_outcomes(case, result.artifact)) == set(objects)
    assert "ListPublicKeys" in endpoint.calls
    assert result.rows == 4 * len(KINDS)
    # digests are preserved too
    assert len(list((case.staging / result.artifact / "digests").iterdir())) >= 4


def test_tampered_object_is_invalid(tmp_path: Path, endpoint: CloudTrailEndpoint) -> None:
    import boto3

    objects, _ = setup_trail(endpoint)
    victim = sorted(objects)[1]
    records = json.loads(gzip.decompress(objects[victim]))
    records["Records"][0]["sourceIPAddress"] = "10.0.0.1"  # the attacker covers a trace
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint.moto_url)
    s3.put_object(Bucket=BUCKET, Key=victim, Body=gzip.compress(json.dumps(records).encode()))
    case = new_case(tmp_path)
    result = validate(case, endpoint)
    outcomes = digest_outcomes(case, result.artifact)
    assert outcomes[victim] == "invalid"
    assert [o for k, o in outcomes.items() if k != victim] == ["valid"] * 3
    assert [n.target for n in result.not_covered] == [victim]


def test_missing_digest_and_broken_link(tmp_path: Path, endpoint: CloudTrailEndpoint) -> None:
    import boto3

    objects, signer = setup_trail(endpoint)
    digests = sorted(build_digests(signer, objects, 6))
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint.moto_url)
    s3.delete_object(Bucket=BUCKET, Key=digests[2])  # the digest of the third hour is gone
    case = new_case(tmp_path)
    result = validate(case, endpoint)
    outcomes = digest_outcomes(case, result.artifact)
    third = sorted(objects)[1]  # delivered 02:05, listed by the deleted digest
    assert outcomes[third] == "digest missing", outcomes
    problems = " ".join(n.reason for n in result.not_covered)
    assert "previous digest" in problems and "missing" in problems  # the link after the gap
    assert [o for k, o in outcomes.items() if k != third] == ["valid"] * 3


def test_forged_previous_link_is_caught(tmp_path: Path, endpoint: CloudTrailEndpoint) -> None:
    """A digest rewritten with its own valid-looking signature chain cannot match its successor's
    previousDigestHashValue."""
    import boto3

    objects, signer = setup_trail(endpoint)
    digests = build_digests(signer, objects, 6)
    key = sorted(digests)[1]
    data, meta = digests[key]
    body = json.loads(gzip.decompress(data))
    body["logFiles"] = body["logFiles"][:0]  # drop what it listed, re-signed by a forger's key
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint.moto_url)
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json.dumps(body).encode()),
                  Metadata=meta)  # fmt: skip
    case = new_case(tmp_path)
    result = validate(case, endpoint)
    reasons = [n.reason for n in result.not_covered]
    assert any("signature does not verify" in r for r in reasons)
    assert any("previousDigestHashValue does not match" in r for r in reasons)
    outcomes = digest_outcomes(case, result.artifact)
    assert outcomes[sorted(objects)[0]] == "not covered"  # its digest no longer lists it


def test_access_denied_for_one_day(tmp_path: Path, endpoint: CloudTrailEndpoint) -> None:
    objects = trail_objects(START, 30)
    put_bucket(BUCKET, objects, endpoint.moto_url)
    endpoint.deny_get = ["/2026/11/02/"]
    case = new_case(tmp_path)
    result = run(
        case, bucket=f"s3://{BUCKET}", since=START, until=START + timedelta(hours=31),
        endpoint_url=endpoint.url,
    )  # fmt: skip
    denied = [n for n in result.not_covered if "/2026/11/02/" in n.target]
    assert denied and all("AccessDenied" in n.reason for n in denied)
    assert len(denied) == len([k for k in objects if "/2026/11/02/" in k])
    assert result.objects == len(objects) - len(denied)
    assert result.rows > 0


def test_local_copy_checks_hashes_and_chain_not_signatures(tmp_path: Path) -> None:
    from tests.evidence.test_cloudtrail import write_tree

    objects = trail_objects(START, 3)
    signer = Signer()
    digests = build_digests(signer, objects, 5)
    victim = sorted(objects)[2]
    tampered = dict(objects)
    tampered[victim] = gzip.compress(b'{"Records": []}', mtime=0)
    write_tree(tmp_path / "copy", tampered | {k: data for k, (data, _) in digests.items()})
    case = new_case(tmp_path)
    result = run(case, source=tmp_path / "copy", since=START, until=START + timedelta(hours=4),
                 validate_digests=True)  # fmt: skip
    outcomes = digest_outcomes(case, result.artifact)
    assert outcomes[victim] == "invalid"
    assert [o for k, o in sorted(outcomes.items()) if k != victim] == ["valid", "valid"]
    meta = json.loads((case.staging / result.artifact / "objects.meta.json").read_text())
    assert {f["signature"] for f in meta["source"]["digests"]["files"]} == {
        "not checked (a local copy has no S3 metadata)"
    }


def test_deleted_object_is_caught_by_its_digest(
    tmp_path: Path, endpoint: CloudTrailEndpoint
) -> None:
    import boto3

    objects, _ = setup_trail(endpoint)
    gone = sorted(objects)[2]
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint.moto_url)
    s3.delete_object(Bucket=BUCKET, Key=gone)  # the attacker removes an hour of their traces
    case = new_case(tmp_path)
    result = validate(case, endpoint)
    assert [
        (n.target, "absent from s3://trail-bucket" in n.reason) for n in result.not_covered
    ] == [(gone, True)]
    assert result.digests == {"valid": 3}
