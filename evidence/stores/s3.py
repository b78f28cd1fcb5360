"""S3 with Object Lock and versioning as an evidence store: `s3://BUCKET/PREFIX`.

Every object goes up with its SHA-256 (ChecksumSHA256, so S3 checks what it receives), is hashed
here on the way and compared with the sha256 the caller expects before it is committed (a
multipart upload is aborted otherwise), never replaces an object (If-None-Match: *), carries its
retention and legal hold on the version written, and is read back (HeadObject with ChecksumMode,
GetObjectLegalHold) rather than trusted. Files above one part are sent as multipart uploads of
PART_SIZE parts on THREADS threads, the way `aws s3 cp` does; their checksum is S3's composite
(sha256 of the parts' digests), compared with the one computed here, and the whole-object sha256
travels as the object's metadata.

Retention is read from HeadObject (x-amz-object-lock-mode / -retain-until-date, which S3 returns
to a caller with s3:GetObjectRetention): moto implements no GetObjectRetention.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from core.aws import AwsAccount, AwsCallFailed
from core.errors import BadInput, StepFailed
from core.permissions import AwsCall
from evidence.stores.interface import (
    ChecksumMismatch,
    Lock,
    ObjectExists,
    Progress,
    StoredObject,
    b64_digest,
    hex_digest,
)

PART_SIZE = 8 << 20  # aws s3 cp's default multipart_chunksize
THREADS = 10  # and its max_concurrent_requests
SHA_META = "sha256"


def parse_uri(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise BadInput(f"no bucket in {uri!r}", hint="s3://BUCKET/PREFIX", field="store")
    return bucket, prefix.strip("/")


_BUCKET = "arn:aws:s3:::{store:bucket}"
_OBJECTS = "arn:aws:s3:::{store:bucket}/{store:prefix}*"


class S3Store:
    versioned = True
    # What `push` calls: the lock check, put (single or multipart) with the lock headers, the
    # read-back (checksum, retention, legal hold) and the custody log's objects.
    push_calls: ClassVar[tuple[AwsCall, ...]] = (
        AwsCall("s3:GetObjectLockConfiguration", _BUCKET),
        AwsCall("s3:GetBucketVersioning", _BUCKET),
        AwsCall("s3:ListObjectsV2", _BUCKET),
        AwsCall("s3:PutObject", _OBJECTS),
        AwsCall("s3:AbortMultipartUpload", _OBJECTS),
        AwsCall("s3:HeadObject", _OBJECTS),
        AwsCall("s3:GetObject", _OBJECTS),
        AwsCall("s3:GetObjectLegalHold", _OBJECTS),
        AwsCall("s3:GetObjectRetention", _OBJECTS),
        AwsCall("s3:PutObjectRetention", _OBJECTS, when="retain_days"),
        AwsCall("s3:PutObjectLegalHold", _OBJECTS, when="legal_hold"),
    )

    def __init__(self, uri: str, account: AwsAccount) -> None:
        self.bucket, self.prefix = parse_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.account = account

    @property
    def s3(self) -> Any:
        return self.account.client("s3")

    def _key(self, bundle_id: str, key: str = "") -> str:
        if not bundle_id or "/" in bundle_id or bundle_id.startswith("."):
            raise BadInput(f"not a bundle id: {bundle_id!r}", field="bundle_id")
        base = f"{self.prefix}/{bundle_id}/" if self.prefix else f"{bundle_id}/"
        return base + key

    # -- the interface ---------------------------------------------------------------------
    def check_lock(self, allow_unlocked: bool) -> dict[str, Any]:
        fix = (
            f"create the bucket with Object Lock (aws s3api create-bucket --bucket {self.bucket} "
            "--object-lock-enabled-for-bucket), or turn it on for this one (aws s3api "
            f"put-object-lock-configuration --bucket {self.bucket} --object-lock-configuration "
            "ObjectLockEnabled=Enabled); --allow-unlocked stores without it"
        )
        enabled = False
        try:
            with self.account.calls(what=f"read the lock of {self.bucket}", fatal=True):
                config = self.s3.get_object_lock_configuration(Bucket=self.bucket)
            enabled = config["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled"
        except AwsCallFailed as exc:
            if exc.code == "NoSuchBucket":
                raise BadInput(f"bucket {self.bucket} does not exist", field="store") from None
            if exc.code != "ObjectLockConfigurationNotFoundError":
                raise
        with self.account.calls(what=f"read the versioning of {self.bucket}"):
            versioning = self.s3.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if not enabled and not allow_unlocked:
            raise BadInput(
                f"bucket {self.bucket} has no Object Lock: its objects could be deleted or "
                "overwritten",
                hint=fix,
                field="store",
            )
        return {"store": self.uri, "object_lock": enabled, "versioning": versioning}

    def who(self) -> str:
        return self.account.operator()

    def bundles(self) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        found = []
        with self.account.calls(what=f"list {self.uri}"):
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/"
            )
            for page in pages:
                found += [
                    p["Prefix"][len(base) :].rstrip("/") for p in page.get("CommonPrefixes", [])
                ]
        return sorted(found)

    def _keys(self, bundle_id: str) -> Iterator[str]:
        base = self._key(bundle_id)
        with self.account.calls(what=f"list {self.uri}/{bundle_id}"):
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(base) :]

    def objects(self, bundle_id: str) -> list[StoredObject]:
        keys = list(self._keys(bundle_id))
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(lambda k: self.head(bundle_id, k), keys))
        return sorted((o for o in found if o is not None), key=lambda o: o.key)

    def head(self, bundle_id: str, key: str, version_id: str | None = None) -> StoredObject | None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(bundle_id, key)}
        if version_id:
            args["VersionId"] = version_id
        try:
            with self.account.calls(what=f"read back {key}"):
                head = self.s3.head_object(ChecksumMode="ENABLED", **args)
        except AwsCallFailed as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        checksum = head.get("ChecksumSHA256")
        single = checksum and head["ContentLength"] <= PART_SIZE and "-" not in checksum
        hold = head.get("ObjectLockLegalHoldStatus")
        if head.get("VersionId") and hold is None:
            hold = self._legal_hold(args["Key"], head["VersionId"])
        return StoredObject(
            key=key,
            uri=f"s3://{self.bucket}/{args['Key']}",
            size=int(head["ContentLength"]),
            sha256=hex_digest(checksum) if single else head.get("Metadata", {}).get(SHA_META),
            checksum=checksum,
            version_id=head.get("VersionId"),
            mode=head.get("ObjectLockMode"),
            retain_until=head.get("ObjectLockRetainUntilDate"),
            legal_hold=hold == "ON",
        )

    def _legal_hold(self, s3_key: str, version_id: str) -> str | None:
        try:
            with self.account.calls(what=f"read the legal hold of {s3_key}"):
                answer = self.s3.get_object_legal_hold(
                    Bucket=self.bucket, Key=s3_key, VersionId=version_id
                )
        except AwsCallFailed as exc:
            if exc.code in ("NoSuchObjectLockConfiguration", "InvalidRequest"):
                return None
            raise
        status = answer.get("LegalHold", {}).get("Status")
        return str(status) if status else None

    def put_file(
        self,
        bundle_id: str,
        key: str,
        path: Path,
        sha256: str,
        lock: Lock,
        progress: Progress | None = None,
    ) -> StoredObject:
        size = path.stat().st_size
        if size <= PART_SIZE:
            data = path.read_bytes()
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha256:
                raise ChecksumMismatch(key, actual, "read while storing", sha256)
            stored = self.put_bytes(bundle_id, key, data, lock)
            if progress:
                progress(size)
            return stored
        return self._multipart(bundle_id, key, path, sha256, lock, progress)

    def put_bytes(self, bundle_id: str, key: str, data: bytes, lock: Lock) -> StoredObject:
        digest = hashlib.sha256(data).hexdigest()
        args = self._lock_args(lock)
        try:
            with self.account.calls(what=f"store {key}"):
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self._key(bundle_id, key),
                    Body=data,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=b64_digest(digest),
                    IfNoneMatch="*",
                    Metadata={SHA_META: digest},
                    **args,
                )
        except AwsCallFailed as exc:
            if exc.code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise ObjectExists(
                    f"{self.uri}/{bundle_id}/{key} exists; never overwritten"
                ) from None
            raise
        return self._read_back(bundle_id, key, b64_digest(digest), lock)

    def _lock_args(self, lock: Lock) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if lock.retain_until is not None and lock.mode:
            args["ObjectLockMode"] = lock.mode.upper()
            args["ObjectLockRetainUntilDate"] = lock.retain_until
        if lock.legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        return args

    def _read_back(self, bundle_id: str, key: str, checksum: str, lock: Lock) -> StoredObject:
        stored = self.head(bundle_id, key)
        if stored is None:
            raise StepFailed(f"{self.uri}/{bundle_id}/{key} is not there after storing it")
        if (stored.checksum or "").split("-")[0] != checksum:
            raise StepFailed(
                f"{stored.uri}: the store reports checksum {stored.checksum}, "
                f"not the {checksum} sent",
                hint="the object is not marked stored",
            )
        if not stored.satisfies(lock):
            raise StepFailed(
                f"{stored.uri}: read back, the lock is mode {stored.mode}, until "
                f"{stored.retain_until}, hold {stored.legal_hold}: not what was asked",
                hint="check the bucket's Object Lock settings",
            )
        return stored

    def _multipart(
        self,
        bundle_id: str,
        key: str,
        path: Path,
        sha256: str,
        lock: Lock,
        progress: Progress | None,
    ) -> StoredObject:
        s3_key = self._key(bundle_id, key)
        with self.account.calls(what=f"store {key}"):
            upload = self.s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=s3_key,
                ChecksumAlgorithm="SHA256",
                Metadata={SHA_META: sha256},
                **self._lock_args(lock),
            )["UploadId"]
        whole = hashlib.sha256()
        slots = threading.BoundedSemaphore(THREADS * 2)  # parts in memory at once
        futures: list[Future[dict[str, Any]]] = []

        def send(number: int, data: bytes) -> dict[str, Any]:
            try:
                part_digest = hashlib.sha256(data).digest()
                with self.account.calls(what=f"store {key} part {number}"):
                    answer = self.s3.upload_part(
                        Bucket=self.bucket,
                        Key=s3_key,
                        UploadId=upload,
                        PartNumber=number,
                        Body=data,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=b64_digest(part_digest.hex()),
                    )
                if progress:
                    progress(len(data))
                return {"PartNumber": number, "ETag": answer["ETag"], "digest": part_digest}
            finally:
                slots.release()

        try:
            with ThreadPoolExecutor(max_workers=THREADS) as pool, open(path, "rb") as handle:
                number = 0
                while data := handle.read(PART_SIZE):
                    number += 1
                    whole.update(data)
                    slots.acquire()
                    futures.append(pool.submit(send, number, data))
                parts = [f.result() for f in futures]
            if whole.hexdigest() != sha256:
                raise ChecksumMismatch(key, whole.hexdigest(), "read while storing", sha256)
            composite = hashlib.sha256(b"".join(p["digest"] for p in parts)).hexdigest()
            listed = [
                {
                    "PartNumber": p["PartNumber"],
                    "ETag": p["ETag"],
                    "ChecksumSHA256": b64_digest(p["digest"].hex()),
                }
                for p in parts
            ]
            with self.account.calls(what=f"store {key}"):
                self.s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=s3_key,
                    UploadId=upload,
                    MultipartUpload={"Parts": listed},
                    IfNoneMatch="*",
                )
        except BaseException:
            with self.account.calls(what=f"abort the upload of {key}"):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=s3_key, UploadId=upload)
            raise
        self._lock_version(bundle_id, key, lock)
        return self._read_back(bundle_id, key, b64_digest(composite), lock)

    def _lock_version(self, bundle_id: str, key: str, lock: Lock) -> None:
        """Set retention and hold on the version just written when it lacks them (moto ignores
        the lock headers of CreateMultipartUpload; S3 applies them, and then this does nothing)."""
        stored = self.head(bundle_id, key)
        if stored is None or stored.satisfies(lock):
            return
        s3_key = self._key(bundle_id, key)
        version = {"Bucket": self.bucket, "Key": s3_key, "VersionId": stored.version_id}
        with self.account.calls(what=f"lock {key}"):
            if lock.retain_until is not None and lock.mode and stored.retain_until is None:
                self.s3.put_object_retention(
                    **version,
                    Retention={"Mode": lock.mode.upper(), "RetainUntilDate": lock.retain_until},
                )
            if lock.legal_hold and not stored.legal_hold:
                self.s3.put_object_legal_hold(**version, LegalHold={"Status": "ON"})

    def read_bytes(self, bundle_id: str, key: str) -> bytes:
        with self.account.calls(what=f"read {key}"):
            answer = self.s3.get_object(
                Bucket=self.bucket, Key=self._key(bundle_id, key), ChecksumMode="ENABLED"
            )
            return bytes(answer["Body"].read())

    def download(
        self, bundle_id: str, key: str, dest: Path, progress: Progress | None = None
    ) -> str:
        """One GET of the version read back, streamed to `dest` and hashed on the way.

        Not ranged GETs in parallel: moto reads a whole object under a lock for every range
        (1 GiB in 8 MiB ranges took 118 s there, one stream a few), and one stream per object
        keeps the hashing in order with constant memory."""
        stored = self.head(bundle_id, key)
        if stored is None:
            raise StepFailed(f"{self.uri}/{bundle_id}/{key} not found")
        digest = hashlib.sha256()
        with self.account.calls(what=f"read {key}"):
            answer = self.s3.get_object(
                Bucket=self.bucket, Key=self._key(bundle_id, key), VersionId=stored.version_id
            )
            with open(dest, "wb") as out:
                for chunk in answer["Body"].iter_chunks(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        return digest.hexdigest()

    def set_hold(self, bundle_id: str, on: bool) -> list[StoredObject]:
        status = "ON" if on else "OFF"
        done = []
        with self.account.calls(what=f"list the versions of {bundle_id}"):
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self._key(bundle_id)
            )
            versions = [
                (v["Key"], v["VersionId"]) for page in pages for v in page.get("Versions", [])
            ]
        base = self._key(bundle_id)
        for s3_key, version in versions:
            with self.account.calls(what=f"set the legal hold on {s3_key}"):
                self.s3.put_object_legal_hold(
                    Bucket=self.bucket, Key=s3_key, VersionId=version, LegalHold={"Status": status}
                )
            if self._legal_hold(s3_key, version) != status:
                raise StepFailed(
                    f"s3://{self.bucket}/{s3_key}: legal hold is not {status} when read back"
                )
            stored = self.head(bundle_id, s3_key[len(base) :], version)
            if stored is not None:
                done.append(stored)
        return done
