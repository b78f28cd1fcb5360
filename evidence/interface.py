"""What every evidence collector shares: where it stages artifacts and what it reports back.

A collector never imports the CLI. It is handed a `Stager` (the case satisfies it) and returns
results as data: an exported artifact, or a failure with its reason, never a crash halfway.
Each collector has typed settings (a `CollectorSettings`), and evidence.registry builds it by
name from them. This module stays light (no pyarrow, no driver): the registry and the procedure
layer import it before they know which collector they need.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from core.artifacts import sidecar_path
from core.errors import BadInput
from core.fsio import disk_errors, fsync_dir, fsync_tree, stage_target
from core.timeutil import rfc3339

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
# Rows read so far: progress(key, rows) with the table (or source) they belong to, called from
# worker threads.
Progress = Callable[[str, int], None]


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
        return stage_target(self.root, name)


class CollectorSettings(BaseModel):
    """The typed settings of one collector: built from a playbook's YAML or by a procedure step."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Window:
    """A time window: since inclusive, until exclusive, both aware."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise BadInput("the window needs time zones", hint="e.g. 2026-11-01T00:00:00Z")
        if self.since >= self.until:
            raise BadInput(
                f"the window's start {rfc3339(self.since)} is not before its end"
                f" {rfc3339(self.until)}",
                field="since",
            )

    def to_json(self) -> dict[str, str]:
        return {"since": rfc3339(self.since), "until": rfc3339(self.until)}


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


def commit_staged(stager: Stager, tmp: Path, final: Path) -> None:
    """Make a finished hidden file or folder `tmp` visible as `final`. A case defers the rename
    to the journal entry of the step that made it (its commit point: Case.commit_staged); a
    bare folder renames it now, durably."""
    commit = getattr(stager, "commit_staged", None)
    if callable(commit):
        commit(tmp, final)
        return
    fsync_tree(tmp)
    with disk_errors(final):
        os.replace(tmp, final)
    fsync_dir(final.parent)


def hidden_twin(final: Path) -> Path:
    """A hidden sibling of `final` to write it under: sealing and staged_artifacts() skip
    dot-names, and the next writer on a case removes what a killed run left (breach.recovery)."""
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")


def commit_described(stager: Stager, tmp: Path, final: Path) -> None:
    """Make hidden `tmp` and its hidden sidecar visible as `final` and its sidecar, at one commit
    (commit_staged); the sidecar moves first, so no artifact is ever seen undescribed. A failure
    before they are handed over removes both."""
    try:
        commit_staged(stager, sidecar_path(tmp), sidecar_path(final))
        commit_staged(stager, tmp, final)
    except BaseException:
        remove_hidden(tmp)
        raise


def remove_hidden(tmp: Path) -> None:
    """Remove a hidden file or folder never committed, and its sidecar."""
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)
    sidecar_path(tmp).unlink(missing_ok=True)


def staged_name(stager: Stager, path: Path) -> str:
    """`path` relative to the staging folder, '/'-separated (either may be relative to cwd)."""
    return path.resolve().relative_to(stager.staging.resolve()).as_posix()
