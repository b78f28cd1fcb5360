"""What every evidence collector shares: where it stages artifacts and what it reports back.

A collector never imports the CLI. It is handed a `Stager` (the case satisfies it) and returns
results as data: an exported artifact, or a failure with its reason, never a crash halfway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from core.fsio import resolve_inside

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


@runtime_checkable
class Stager(Protocol):
    """Somewhere artifacts are staged before sealing (breach.case.Case is one)."""

    @property
    def staging(self) -> Path: ...

    def stage_path(self, name: str) -> Path: ...


@dataclass(frozen=True)
class DirStager:
    """A bare staging folder, for library users without a case."""

    root: Path

    @property
    def staging(self) -> Path:
        return self.root

    def stage_path(self, name: str) -> Path:
        target = resolve_inside(self.root, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target


@dataclass
class ArtifactResult:
    """One staged artifact (a file, or a folder of day partitions) and its sidecar metadata."""

    name: str  # relative to the staging folder
    row_count: int
    meta: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FailedItem:
    """Something that could not be collected, and why: data, not an exception."""

    target: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Collector(Protocol):
    """A collector stages artifacts and reports what it staged and what failed."""

    name: str

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]: ...


def staged_name(stager: Stager, path: Path) -> str:
    """`path` relative to the staging folder, '/'-separated (either may be relative to cwd)."""
    return path.resolve().relative_to(stager.staging.resolve()).as_posix()
