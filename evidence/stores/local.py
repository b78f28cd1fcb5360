"""A local folder as an evidence store (the embedded default): `file://PATH` or a plain path.

Objects are files under `<root>/<bundle id>/<path>`, written to a temporary name, hashed on the
way, fsynced, made read-only (0444) and renamed into place; an existing file is never replaced.
Lock state (retention mode and date, legal hold) is a JSON sidecar per object under
`<root>/.locks/`, rewritten atomically: a folder cannot enforce it the way S3 Object Lock does,
so the files' read-only mode and the custody log are what protect them here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import BadInput, StepFailed
from core.fsio import disk_errors, fsync_dir, resolve_inside, write_json
from core.operator import operator
from evidence.stores.interface import (
    ChecksumMismatch,
    Lock,
    ObjectExists,
    Progress,
    StoredObject,
    b64_digest,
)

CHUNK = 1 << 20
LOCKS = ".locks"


class LocalStore:
    versioned = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = f"file://{root.resolve()}"

    # -- where things are ------------------------------------------------------------------
    def _path(self, bundle_id: str, key: str) -> Path:
        return resolve_inside(self.root, f"{_bundle_name(bundle_id)}/{key}")

    def _lock_path(self, bundle_id: str, key: str) -> Path:
        return resolve_inside(self.root, f"{LOCKS}/{_bundle_name(bundle_id)}/{key}.json")

    # -- the interface ---------------------------------------------------------------------
    def check_lock(self, allow_unlocked: bool) -> dict[str, Any]:
        with disk_errors(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise BadInput(f"cannot write to the store folder {self.root}", field="store")
        return {"store": self.uri, "lock": "read-only files, lock state in sidecars"}

    def who(self) -> str:
        return operator()

    def bundles(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name != LOCKS)

    def objects(self, bundle_id: str) -> list[StoredObject]:
        folder = resolve_inside(self.root, _bundle_name(bundle_id))
        if not folder.is_dir():
            return []
        found = []
        for parent, _, names in os.walk(folder):
            for name in sorted(names):
                key = Path(parent, name).relative_to(folder).as_posix()
                found.append(self._state(bundle_id, key, hashed=False))
        return sorted(found, key=lambda o: o.key)

    def head(self, bundle_id: str, key: str) -> StoredObject | None:
        if not self._path(bundle_id, key).is_file():
            return None
        return self._state(bundle_id, key, hashed=True)

    def put_file(
        self,
        bundle_id: str,
        key: str,
        path: Path,
        sha256: str,
        lock: Lock,
        progress: Progress | None = None,
    ) -> StoredObject:
        with open(path, "rb") as source:
            return self._write(bundle_id, key, source, sha256, lock, progress)

    def put_bytes(self, bundle_id: str, key: str, data: bytes, lock: Lock) -> StoredObject:
        import io

        digest = hashlib.sha256(data).hexdigest()
        return self._write(bundle_id, key, io.BytesIO(data), digest, lock, None)

    def read_bytes(self, bundle_id: str, key: str) -> bytes:
        path = self._path(bundle_id, key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StepFailed(f"{self.uri}: {bundle_id}/{key} not found") from None

    def download(
        self, bundle_id: str, key: str, dest: Path, progress: Progress | None = None
    ) -> str:
        digest = hashlib.sha256()
        source = self._path(bundle_id, key)
        with disk_errors(dest), open(source, "rb") as src, open(dest, "wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                if progress:
                    progress(len(chunk))
        return digest.hexdigest()

    def set_hold(self, bundle_id: str, on: bool) -> list[StoredObject]:
        done = []
        for stored in self.objects(bundle_id):
            lock = self._lock_of(bundle_id, stored.key)
            lock["legal_hold"] = on
            write_json(self._lock_path(bundle_id, stored.key), lock)
            done.append(self._state(bundle_id, stored.key, hashed=False))
        return done

    # -- inside ----------------------------------------------------------------------------
    def _write(
        self,
        bundle_id: str,
        key: str,
        source: Any,
        sha256: str,
        lock: Lock,
        progress: Progress | None,
    ) -> StoredObject:
        target = self._path(bundle_id, key)
        if target.exists():
            raise ObjectExists(f"{self.uri}: {bundle_id}/{key} exists; a store never overwrites")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        digest = hashlib.sha256()
        try:
            with disk_errors(target), os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise ChecksumMismatch(key, digest.hexdigest(), "read while storing", sha256)
            os.chmod(tmp, 0o444)
            os.link(tmp, target)  # fails if the target appeared meanwhile: never overwrite
            fsync_dir(target.parent)
        except FileExistsError:
            raise ObjectExists(f"{self.uri}: {bundle_id}/{key} exists") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        state = {
            "mode": lock.mode,
            "retain_until": lock.retain_until.isoformat() if lock.retain_until else None,
            "legal_hold": lock.legal_hold,
        }
        write_json(self._lock_path(bundle_id, key), state)
        return self._state(bundle_id, key, hashed=True)

    def _lock_of(self, bundle_id: str, key: str) -> dict[str, Any]:
        path = self._lock_path(bundle_id, key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"mode": None, "retain_until": None, "legal_hold": False}
        return value if isinstance(value, dict) else {}

    def _state(self, bundle_id: str, key: str, *, hashed: bool) -> StoredObject:
        path = self._path(bundle_id, key)
        digest = None
        if hashed:
            h = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    h.update(chunk)
            digest = h.hexdigest()
        lock = self._lock_of(bundle_id, key)
        until = lock.get("retain_until")
        return StoredObject(
            key=key,
            uri=f"{self.uri}/{bundle_id}/{key}",
            size=path.stat().st_size,
            sha256=digest,
            checksum=b64_digest(digest) if digest else None,
            version_id=None,
            mode=lock.get("mode"),
            retain_until=datetime.fromisoformat(until) if until else None,
            legal_hold=bool(lock.get("legal_hold")),
        )


def _bundle_name(bundle_id: str) -> str:
    if not bundle_id or "/" in bundle_id or bundle_id.startswith(".") or "\\" in bundle_id:
        raise BadInput(f"not a bundle id: {bundle_id!r}", field="bundle_id")
    return bundle_id
