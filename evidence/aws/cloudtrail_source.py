"""Where CloudTrail log objects are read from: an S3 bucket, or a local copy of one.

Both speak CloudTrail's delivery layout,

    [PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz
    [PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/..._CloudTrail-Digest_...json.gz

and list one folder level at a time, so only the day folders a window needs are ever listed.
Keys are attacker-controlled text: `safe_name` maps one to a file name that cannot leave its
folder and maps back with `original_key`.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.aws import AwsAccount, translate
from core.fsio import file_to_name, name_to_file

# Folder names read from the bucket: matched whole ('\Z', not '$', which also matches before a
# trailing newline), so "123456789012\n" is no account.
ACCOUNT = re.compile(r"^\d{12}\Z")
ORG = re.compile(r"^o-[a-z0-9]{10,32}\Z")
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+\Z")
# ..._CloudTrail_us-east-1_20261101T0005Z_AbCd.json.gz (and CloudTrail-Digest_..._20261101T010203Z)
FILE_TIME = re.compile(r"_(\d{8}T\d{4}(?:\d\d)?Z)[_.]")
THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}


def safe_name(key: str) -> str:
    """A file name for an attacker-controlled key: core.fsio.name_to_file, so it is one path
    component, never hidden, case-safe and reversible (a too long name keeps its head and a
    hash; the sidecar keeps the key)."""
    return name_to_file(key)


def printable(text: str) -> str:
    """Text for a terminal or a line-based file: control characters as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def original_key(name: str) -> str | None:
    """The key `safe_name` encoded (None for a shortened name: read it from the sidecar)."""
    return file_to_name(name)


def file_time(key: str) -> datetime | None:
    """The delivery time in a CloudTrail object's file name, if it has one."""
    found = FILE_TIME.search(key.rsplit("/", 1)[-1])
    if not found:
        return None
    text = found.group(1)
    fmt = "%Y%m%dT%H%M%SZ" if len(text) == 16 else "%Y%m%dT%H%MZ"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


class ReadFailed(Exception):
    """A listing or a read the source refused (AccessDenied, NoSuchKey, an unreadable file)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Item:
    key: str
    size: int


class Source(Protocol):
    """A bucket or a folder in CloudTrail's layout."""

    def describe(self) -> str: ...

    def children(self, prefix: str) -> list[str]: ...

    def objects(self, prefix: str) -> list[Item]: ...

    def read(self, key: str) -> tuple[bytes, dict[str, str]]: ...


class S3Source:
    """A bucket through the account's session; GETs from several threads share one client."""

    def __init__(self, account: AwsAccount, bucket: str, *, pool: int = 10) -> None:
        from botocore.config import Config

        self.bucket = bucket
        self.throttled = 0
        self._lock = threading.Lock()
        config = Config(
            max_pool_connections=max(pool, 10), retries={"mode": "standard", "max_attempts": 8}
        )
        with account.calls(what=f"reach s3://{bucket}", fatal=True):
            self.client = account.session.client(
                "s3", endpoint_url=account.endpoint_url, config=config
            )
        self.client.meta.events.register("needs-retry.s3", self._count_throttle)

    def _count_throttle(self, response: Any = None, **_: Any) -> None:
        if not response:
            return
        http, parsed = response
        code = str((parsed or {}).get("Error", {}).get("Code", ""))
        if code in THROTTLE_CODES or getattr(http, "status_code", 0) == 503:
            with self._lock:
                self.throttled += 1

    def describe(self) -> str:
        return f"s3://{self.bucket}"

    def _call(self, operation: str, **kwargs: Any) -> Any:
        import botocore.exceptions as bex

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except bex.ClientError as exc:
            failed = translate(exc)
            raise ReadFailed(failed.code, failed.diagnostics()) from None
        except (bex.BotoCoreError, OSError) as exc:
            raise ReadFailed(type(exc).__name__, str(exc)) from None

    def children(self, prefix: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=prefix, Delimiter="/", **extra)
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(prefix) :].rstrip("/"))
            token = page.get("NextContinuationToken")
            if not token:
                return names

    def objects(self, prefix: str) -> list[Item]:
        items: list[Item] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=prefix, **extra)
            items += [Item(o["Key"], int(o.get("Size", 0))) for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return items

    def read(self, key: str) -> tuple[bytes, dict[str, str]]:
        import botocore.exceptions as bex

        response = self._call("get_object", Key=key)
        try:
            return response["Body"].read(), dict(response.get("Metadata") or {})
        except (bex.BotoCoreError, OSError) as exc:
            raise ReadFailed(type(exc).__name__, str(exc)) from None


class LocalSource:
    """A trail copied out (`aws s3 sync`): the same layout under a folder. Keys are '/'-joined
    paths relative to it; symbolic links are not followed out of it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def describe(self) -> str:
        return str(self.root)

    def _path(self, prefix: str) -> Path:
        path = (self.root / prefix).resolve()
        if not path.is_relative_to(self.root):
            raise ReadFailed("OutsideSource", f"{prefix!r} leaves {self.root}")
        return path

    def children(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        try:
            return sorted(e.name for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ReadFailed(type(exc).__name__, f"cannot list {folder}: {exc.strerror}") from None

    def objects(self, prefix: str) -> list[Item]:
        folder = self._path(prefix)
        items = []
        try:
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames.sort()
                for name in sorted(filenames):
                    path = Path(dirpath) / name
                    if path.is_symlink() or name.startswith("."):
                        continue
                    rel = path.relative_to(self.root).as_posix()
                    items.append(Item(rel, path.stat().st_size))
        except OSError as exc:
            raise ReadFailed(type(exc).__name__, f"cannot list {folder}: {exc.strerror}") from None
        return items

    def read(self, key: str) -> tuple[bytes, dict[str, str]]:
        path = self._path(key)
        try:
            return path.read_bytes(), {}
        except OSError as exc:
            code = "NoSuchKey" if isinstance(exc, FileNotFoundError) else type(exc).__name__
            raise ReadFailed(code, f"cannot read {path}: {exc.strerror}") from None
