"""The evidence store interface: one Protocol, two backends (a local folder, S3 Object Lock).

A store holds bundles as objects under `<bundle id>/<path in the bundle>`. Every object carries
its SHA-256; a backend computes it while it writes and reads it back afterwards, so what a caller
gets is what the store holds, never what was asked for. Lock state (retention mode and date,
legal hold) is read back the same way. Objects are never overwritten: `put` refuses a key that
exists, and custody entries after a push are new objects beside the bundle.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from core.errors import StepFailed

Mode = Literal["compliance", "governance"]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Lock:
    """What a push asks for: a retention mode and date (None: no retention), and a legal hold."""

    mode: Mode | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False


@dataclass(frozen=True)
class StoredObject:
    """One object as the store reports it, read back after every write."""

    key: str  # path inside the bundle, '/'-separated
    uri: str
    size: int
    sha256: str | None  # hex digest of the whole object, when the store can say it
    checksum: str | None  # the store's own checksum as it reports it (S3: ChecksumSHA256)
    version_id: str | None
    mode: str | None
    retain_until: datetime | None
    legal_hold: bool | None  # None: the store cannot hold

    def record(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["retain_until"] = self.retain_until.isoformat() if self.retain_until else None
        return fields

    def satisfies(self, lock: Lock) -> bool:
        """The object is at least as locked as asked."""
        if lock.legal_hold and not self.legal_hold:
            return False
        if lock.retain_until is None:
            return True
        return (
            self.mode is not None
            and self.mode.lower() == (lock.mode or "").lower()
            and self.retain_until is not None
            and self.retain_until >= lock.retain_until.replace(microsecond=0)
        )


class ChecksumMismatch(StepFailed):
    """What was read or written is not what the manifest says: nothing is marked stored."""

    def __init__(self, key: str, actual: str, expected: str, where: str) -> None:
        super().__init__(
            f"{key}: sha256 {actual[:16]}… {where}, the bundle's manifest says {expected[:16]}…",
            hint="the file or the stored object changed: it is not evidence as sealed",
        )
        self.key = key


class ObjectExists(StepFailed):
    """A store never overwrites an object."""


class Store(Protocol):
    """An evidence store. Keys are paths inside one bundle; bundle ids are plain names."""

    uri: str
    versioned: bool  # whether objects have version ids and lock state (S3) or not (folder)

    def check_lock(self, allow_unlocked: bool) -> dict[str, Any]:
        """Refuse a store that cannot lock objects, unless `allow_unlocked`; say what it has."""
        ...

    def who(self) -> str:
        """Who the store sees acting: the AWS caller identity, or the OS user."""
        ...

    def bundles(self) -> list[str]:
        """Every bundle id in the store."""
        ...

    def objects(self, bundle_id: str) -> list[StoredObject]:
        """Every object of the bundle (latest version), lock state included."""
        ...

    def head(self, bundle_id: str, key: str) -> StoredObject | None:
        """One object read back, or None when the store does not hold it."""
        ...

    def put_file(
        self,
        bundle_id: str,
        key: str,
        path: Path,
        sha256: str,
        lock: Lock,
        progress: Progress | None = None,
    ) -> StoredObject:
        """Upload `path`, hashing it on the way; a digest other than `sha256` stores nothing
        (ChecksumMismatch). Returns the object read back."""
        ...

    def put_bytes(self, bundle_id: str, key: str, data: bytes, lock: Lock) -> StoredObject:
        """A small new object (a custody entry); refuses a key that exists (ObjectExists)."""
        ...

    def read_bytes(self, bundle_id: str, key: str) -> bytes:
        """A small object's content, checked against the store's own checksum."""
        ...

    def download(
        self, bundle_id: str, key: str, dest: Path, progress: Progress | None = None
    ) -> str:
        """Write the object to `dest`, returning the sha256 hex of the bytes written."""
        ...

    def set_hold(self, bundle_id: str, on: bool) -> list[StoredObject]:
        """Legal hold on or off on every object version of the bundle, read back."""
        ...


def b64_digest(hex_digest: str) -> str:
    """S3's ChecksumSHA256 form of a hex sha256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def hex_digest(b64: str) -> str:
    return base64.b64decode(b64).hex()
