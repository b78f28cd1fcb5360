"""Staged artifacts, read back with their sidecars (core.artifacts) for sealing."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from core.artifacts import META_SUFFIX
from core.fsio import read_json

MEDIA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".csv": "text/csv",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".sql": "application/sql",
}


@dataclass(frozen=True)
class StagedArtifact:
    name: PurePosixPath  # relative to the staging folder, always '/'-separated
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        given = self.meta.get("media_type")
        if isinstance(given, str):
            return given
        suffix = self.path.suffix.lower()
        return (
            MEDIA_TYPES.get(suffix)
            or mimetypes.guess_type(self.path.name)[0]
            or ("application/octet-stream")
        )


def _is_artifact(path: Path) -> bool:
    name = path.name
    return path.is_file() and not name.endswith(META_SUFFIX) and not name.startswith(".")


def _meta_for(path: Path, root: Path) -> dict[str, Any]:
    """The file's own sidecar, else the nearest enclosing folder's."""
    candidate = path
    while candidate != root:
        sidecar = candidate.with_name(candidate.name + META_SUFFIX)
        if sidecar.is_file():
            meta = read_json(sidecar, what="artifact metadata")
            return meta if isinstance(meta, dict) else {}
        candidate = candidate.parent
    return {}


def staged_artifacts(root: Path) -> list[StagedArtifact]:
    """Every artifact file under `root`, sorted by name; sidecars and hidden temp files excluded."""
    found = []
    for path in sorted(p for p in root.rglob("*") if _is_artifact(p)):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if any(part.startswith(".") for part in rel.parts):
            continue
        found.append(StagedArtifact(rel, path, _meta_for(path, root)))
    return found
