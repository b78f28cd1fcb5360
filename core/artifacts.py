"""An artifact's metadata sidecar: what a collector knows about a staged file, before sealing.

A collector writes an artifact under a case's `staging/` folder and describes it in a sidecar
`<artifact>.meta.json` (or `<folder>.meta.json` for every file under a folder, such as a
day-partitioned Parquet export). Sealing reads the sidecar into the signed statement's predicate:

    {"media_type": "application/vnd.apache.parquet",
     "source": {"system": "postgresql", "table": "public.audit_log", "query": "...",
                "window": {"since": "...", "until": "..."}, "row_count": 123,
                "oldest_event": "...", "newest_event": "...", "schema_sha256": "..."},
     "collector": {"name": "evidence.postgres.audit", "version": "0.1.0"}}
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.fsio import write_json

if TYPE_CHECKING:
    from core.records import ArtifactMeta

META_SUFFIX = ".meta.json"

try:
    TOOL_VERSION = version("breachkit")
except PackageNotFoundError:  # a source tree that was never installed
    TOOL_VERSION = "0.0.0"


def collector(name: str) -> dict[str, str]:
    """The `collector` block of a sidecar: which part of breachkit wrote the artifact."""
    return {"name": name, "version": TOOL_VERSION}


def artifact_meta(media_type: str, source: dict[str, Any], collected_by: str) -> dict[str, Any]:
    """A sidecar's content: media type, where the bytes came from, and who collected them."""
    return {"media_type": media_type, "source": source, "collector": collector(collected_by)}


def sidecar_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + META_SUFFIX)


def describe(artifact: Path, meta: ArtifactMeta | dict[str, Any]) -> Path:
    """Write the sidecar for a staged file or folder (atomically), checked against the one
    ArtifactMeta model every producer shares (sealing reads it back into the statement)."""
    from core.records import ArtifactMeta  # here, not above: the verifier never loads pydantic

    checked = meta if isinstance(meta, ArtifactMeta) else ArtifactMeta.model_validate(meta)
    sidecar = sidecar_path(artifact)
    write_json(sidecar, checked.model_dump(mode="json", exclude_unset=True))
    return sidecar
