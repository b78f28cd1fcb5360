"""Volatile evidence: what a containment action is about to destroy, kept first.

Revoking sessions deletes rows and keys that say who was signed in, from where and until when.
Before deleting them, an adapter hands them to a `Sink` (the case's staging, given by the
procedure layer) as one JSON artifact with its metadata; the action only goes on once the
artifact is written. Secrets are not kept: a session key, token or password-like field is
replaced by the SHA-256 of its text (so a responder holding a token can still find its row:
`printf %s TOKEN | sha256sum`).

Which fields count as secrets: the session table's key column (and Django's whole
`session_data`, which carries the auth hash), Redis key names (they may embed the token), the
members of Redis sets and lists (they are session keys), an opaque Redis string value, and any
column, hash field or JSON field whose name contains one of SECRET_PARTS.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from core.artifacts import artifact_meta
from core.records import CapturedArtifact
from core.timeutil import rfc3339, utcnow

if TYPE_CHECKING:
    from containment.interface import ContainmentAdapter

SECRET_PARTS = (
    "token",
    "secret",
    "passw",
    "hash",
    "salt",
    "otp",
    "key",
    "cookie",
    "csrf",
    "nonce",
    "jwt",
    "bearer",
    "credential",
    "signature",
)
SECRET_NAMES = ("sid", "session", "session_id", "sessionid", "session_data")
HASHED = "_sha256"


class Sink(Protocol):
    """Stage `data` as JSON artifact `name` with its metadata; return the staged name."""

    def __call__(self, name: str, data: Any, meta: dict[str, Any]) -> str: ...


@functools.lru_cache(maxsize=4096)  # asked once a row for the same few column names
def is_secret(name: str) -> bool:
    low = name.lower()
    return low in SECRET_NAMES or any(part in low for part in SECRET_PARTS)


def sha256_text(value: Any) -> str | None:
    """The SHA-256 of a value's text (bytes as they are); None stays None."""
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else str(jsonable(value)).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def jsonable(value: Any) -> Any:
    """A database or Redis value as JSON can hold it (times in RFC 3339, bytes as hex)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return rfc3339(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def scrub(record: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A row or hash with each secret field (named in `secrets`, or by its name) replaced by
    `<field>_sha256`."""
    forced = secrets if isinstance(secrets, set | frozenset) else set(secrets)
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name in forced or is_secret(name):
            out[name + HASHED] = sha256_text(value)
        else:
            out[name] = jsonable(value)
    return out


def stage_capture(
    adapter: ContainmentAdapter,
    what: str,
    records: list[dict[str, Any]],
    hashed: set[str],
    source: dict[str, Any] | None = None,
) -> str | None:
    """Stage the records as volatile/<time>-<action>-<adapter>.json through the adapter's sink
    (before they are deleted); the staged name, or None without a sink."""
    if adapter.capture is None:
        return None
    now = utcnow()
    name = f"volatile/{now.strftime('%Y%m%dT%H%M%S%fZ')}-{adapter.action}-{adapter.name}.json"
    listed = sorted(hashed)
    data = {"captured_at": rfc3339(now), "what": what, "hashed": listed, "records": records}
    described = {
        "system": adapter.system(),
        "action": adapter.action,
        "adapter": adapter.name,
        "what": what,
        "row_count": len(records),
        "captured_at": rfc3339(now),
        "hashed": listed,
        **(source or {}),
    }
    meta = artifact_meta("application/json", described, "containment.volatile")
    return adapter.capture(name, data, meta)


def captured_from(staged: str, meta: dict[str, Any]) -> CapturedArtifact:
    """The receipt's line for an artifact `stage_capture` wrote."""
    source = meta["source"]
    return CapturedArtifact(artifact=staged, records=source["row_count"], hashed=source["hashed"])
