"""Preserve CloudTrail for a window: evidence cloudtrail.

    result = cloudtrail(CloudTrailStepSettings(case="INC-1", bucket="s3://trail-bucket/org",
                                               since="2026-11-01", until="2026-11-03",
                                               validate_digests=True))
    result.artifact        # cloud/cloudtrail/trail (objects/, digests/, events/ day partitions)
    result.not_covered     # what could not be collected: the CLI exits 1 when there is any

The step refuses a window that ends in the future (nothing could cover it yet), builds the
collector through evidence.registry, journals `evidence.cloudtrail` (ok, empty or failed: failed
when anything asked for was not covered) and returns what was staged and what was not.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from breach.case import Case
from core.errors import BadInput
from core.timeutil import rfc3339, utcnow
from evidence.aws.cloudtrail_settings import CloudTrailSettings
from evidence.interface import FailedItem, Progress


class CloudTrailStepSettings(CloudTrailSettings):
    """The collector's settings, for one case."""

    case: str


class NotCovered(BaseModel):
    target: str
    reason: str


class CloudTrailResult(BaseModel):
    artifact: str
    origin: str
    rows: int
    objects: int
    oldest_event: str | None = None
    newest_event: str | None = None
    not_covered: list[NotCovered]
    warnings: list[str]
    coverage: dict[str, Any] = Field(default_factory=dict)
    digests: dict[str, int] | None = Field(
        default=None, description="log objects per digest outcome (valid, invalid, ...)"
    )

    @property
    def problem(self) -> str | None:
        if not self.not_covered:
            return None
        return f"{len(self.not_covered)} item(s) not fully collected or not valid (see not_covered)"


def cloudtrail(
    settings: CloudTrailStepSettings, *, progress: Progress | None = None
) -> CloudTrailResult:
    """Stage the window's CloudTrail objects byte for byte and their events as Parquet."""
    from evidence.registry import CLOUDTRAIL

    case = Case.load(settings.case, write=True)
    now = utcnow()
    if settings.since >= now:
        raise BadInput(
            f"the window starts at {rfc3339(settings.since)}, in the future: nothing to collect",
            field="since",
        )
    if settings.until > now:
        raise BadInput(
            f"the window ends at {rfc3339(settings.until)}, in the future: CloudTrail cannot"
            " cover it yet",
            field="until",
        )
    origin = (
        settings.bucket
        if settings.bucket
        else ("LookupEvents" if settings.lookup else str(settings.source))
    )
    collector_settings = CloudTrailSettings.model_validate(settings.model_dump(exclude={"case"}))
    details = {"origin": origin, "since": rfc3339(settings.since), "until": rfc3339(settings.until),
               "accounts": settings.accounts, "regions": settings.regions,
               "validate_digests": settings.validate_digests}  # fmt: skip
    with case.step("evidence.cloudtrail", details) as outcome:
        export = CLOUDTRAIL.build(collector_settings)
        if hasattr(export, "progress"):
            export.progress = progress
        report = export.run(case)
        failed: list[FailedItem] = report.failed
        outcome.update(
            result="failed" if failed else ("empty" if report.rows == 0 else "ok"),
            artifact=report.artifact,
            rows=report.rows,
            objects=len(report.objects),
            not_covered=len(failed),
            digests=(report.digests or {}).get("objects"),
        )
    return CloudTrailResult(
        artifact=report.artifact,
        origin=origin,
        rows=report.rows,
        objects=len(report.objects),
        oldest_event=report.oldest,
        newest_event=report.newest,
        not_covered=[NotCovered(target=f.target, reason=f.reason) for f in failed],
        warnings=report.warnings,
        coverage=report.coverage,
        digests=(report.digests or {}).get("objects") if report.digests is not None else None,
    )
