"""Cloud evidence other than CloudTrail: CloudWatch Logs and VPC flow logs, S3 and load-balancer
access logs, RDS and EBS snapshots.

    logs = cloudwatch(CloudWatchStepSettings(case="INC-1", log_groups=["/vpc/flow"],
                                             since="2026-11-01", until="2026-11-03",
                                             aws={"region": "eu-west-1"}))
    copied = s3_logs(S3LogsStepSettings(case="INC-1", prefix="s3://logs/AWSLogs/",
                                        since="2026-11-01", until="2026-11-03"))
    taken = cloud_snapshot(CloudSnapshotStepSettings(case="INC-1", rds_instances=["db-1"],
                                                     share_with=["111122223333"]))

Each step stages what it could, journals itself, and returns a result whose `problem` names what
it could not collect (None when everything asked for was collected): the CLI exits 1 on one.
cloud_snapshot acts outside the case: it journals its intent (targets, tags, the run id the
snapshots are tagged with) before creating anything, then the outcome.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from breach.case import Case, new_run
from core.errors import BadInput
from evidence.aws.settings import CloudWatchSettings, S3LogsSettings, SnapshotSettings
from evidence.interface import Progress
from evidence.registry import CLOUD_SNAPSHOT, CLOUDWATCH, S3_LOGS


class NotCollected(BaseModel):
    target: str
    reason: str


def _aws_details(settings: Any) -> dict[str, Any]:
    account = settings.aws
    keys = ("profile", "region", "role_arn", "endpoint_url")
    return {k: getattr(account, k) for k in keys if getattr(account, k)}


# -- cloudwatch -------------------------------------------------------------------------------
class CloudWatchStepSettings(CloudWatchSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str


class LogGroupArtifact(BaseModel):
    artifact: str
    log_group: str
    format: str
    row_count: int
    oldest_event: str | None
    newest_event: str | None
    complete: bool
    not_covered: list[str]


class CloudWatchResult(BaseModel):
    artifacts: list[LogGroupArtifact]
    failed: list[NotCollected]
    warnings: list[str]

    @property
    def problem(self) -> str | None:
        lines = [f"log group {f.target!r}: {f.reason}" for f in self.failed]
        lines += [f"{a.log_group!r} incomplete: {'; '.join(a.not_covered)}" for a in self.artifacts]
        lines = [line for line in lines if not line.endswith("incomplete: ")]
        return "not fully collected: " + " | ".join(lines) if lines else None


def cloudwatch(
    settings: CloudWatchStepSettings, *, progress: Progress | None = None
) -> CloudWatchResult:
    """Every event of the window of each log group, staged as Parquet; groups that do not exist
    and streams that could not be read are reported, the rest staged."""
    case = Case.load(settings.case, write=True)
    collector = CLOUDWATCH.build(settings)
    collector.progress = progress
    details = {
        "log_groups": list(settings.log_groups),
        **collector.window.to_json(),
        "aws": _aws_details(settings),
    }
    with case.step("evidence.cloudwatch", details) as outcome:
        artifacts, failed = collector.collect(case)
        result = CloudWatchResult(
            artifacts=[_group_artifact(a.name, a.meta["source"]) for a in artifacts],
            failed=[NotCollected(target=f.target, reason=f.reason) for f in failed],
            warnings=[w for a in artifacts for w in a.warnings],
        )
        outcome.update(
            result="incomplete" if result.problem else "ok",
            staged={a.artifact: a.row_count for a in result.artifacts},
            failed=[f.model_dump() for f in result.failed],
            not_covered={a.artifact: a.not_covered for a in result.artifacts if a.not_covered},
        )
    return result


def _group_artifact(name: str, source: dict[str, Any]) -> LogGroupArtifact:
    return LogGroupArtifact(
        artifact=name,
        log_group=source["log_group"],
        format=source["format"],
        row_count=source["row_count"],
        oldest_event=source.get("oldest_event"),
        newest_event=source.get("newest_event"),
        complete=source["complete"],
        not_covered=source["not_covered"],
    )


# -- s3-logs ----------------------------------------------------------------------------------
class S3LogsStepSettings(S3LogsSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str


class CopiedObject(BaseModel):
    key: str
    artifact: str
    kind: str
    size: int
    sha256: str


class S3LogsResult(BaseModel):
    bucket: str
    prefix: str
    index: str = Field(description="the staged index of the collection (every key's fate)")
    copied: list[CopiedObject]
    failed: list[NotCollected]
    skipped: dict[str, int] = Field(description="keys under the prefix not copied, by reason")
    not_covered: list[str]
    warnings: list[str]

    @property
    def problem(self) -> str | None:
        if not self.failed and not self.not_covered:
            return None
        lines = [f"{f.target!r}: {f.reason}" for f in self.failed] + self.not_covered
        return f"{len(self.failed)} log object(s) not copied: " + " | ".join(lines)


def s3_logs(settings: S3LogsStepSettings, *, progress: Progress | None = None) -> S3LogsResult:
    """Copy the window's access log objects byte for byte, each with its SHA-256 and key."""
    case = Case.load(settings.case, write=True)
    collector = S3_LOGS.build(settings)
    collector.progress = progress
    details = {
        "prefix": settings.prefix,
        **collector.window.to_json(),
        "aws": _aws_details(settings),
    }
    with case.step("evidence.s3-logs", details) as outcome:
        report = collector.run(case)
        result = S3LogsResult.model_validate(report.to_json())
        outcome.update(
            result="incomplete" if result.problem else "ok",
            index=result.index,
            copied=len(result.copied),
            failed=[f.model_dump() for f in result.failed],
            skipped=result.skipped,
        )
    return result


# -- cloud-snapshot ---------------------------------------------------------------------------
class CloudSnapshotStepSettings(SnapshotSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str


class SnapshotCopy(BaseModel):
    region: str
    purpose: str = Field(default="region copy", description="or 're-encrypted to share'")
    snapshot_id: str | None = None
    arn: str | None = None
    state: str | None = None
    encrypted: bool | None = None
    kms_key_id: str | None = None
    shared_with: list[str] = Field(default_factory=list)
    error: str | None = None


class TakenSnapshot(BaseModel):
    kind: str
    source: str
    source_arn: str | None = None
    snapshot_id: str
    arn: str | None = None
    state: str
    progress: str | None = None
    created_at: str | None = None
    completed: bool
    encrypted: bool | None = None
    kms_key_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    shared_with: list[str] = Field(default_factory=list)
    copies: list[SnapshotCopy] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class Reconciled(BaseModel):
    """An earlier run that never journaled its outcome, and what AWS has of it."""

    run: str
    record: str
    snapshots: list[TakenSnapshot]
    failed: list[NotCollected]


class CloudSnapshotResult(BaseModel):
    run: str
    record: str = Field(description="the staged record of the snapshots")
    snapshots: list[TakenSnapshot]
    failed: list[NotCollected]
    warnings: list[str]
    reconciled: list[Reconciled] = Field(default_factory=list)

    @property
    def problem(self) -> str | None:
        lines = [f"{f.target}: {f.reason}" for f in self.failed]
        lines += [f"{s.snapshot_id}: {p}" for s in self.snapshots for p in s.problems]
        return "snapshots not all taken: " + " | ".join(lines) if lines else None


def cloud_snapshot(
    settings: CloudSnapshotStepSettings, *, progress: Progress | None = None
) -> CloudSnapshotResult:
    """Snapshot the resources, tag them with the incident, wait for them, share or copy them,
    and stage their record; the intent is journaled before anything is created."""
    case = Case.load(settings.case, write=True)
    targets = {
        "rds_instances": list(settings.rds_instances),
        "rds_clusters": list(settings.rds_clusters),
        "ebs_volumes": list(settings.ebs_volumes),
        "instances": list(settings.instances),
    }
    if not any(targets.values()):
        raise BadInput(
            "nothing to snapshot: name an RDS instance or cluster, an EBS volume or an instance",
            field="rds_instances",
        )
    run = new_run()
    ready = settings.model_copy(update={"incident": case.id, "run": run})
    collector = CLOUD_SNAPSHOT.build(ready)
    details = {
        "targets": {k: v for k, v in targets.items() if v},
        "share_with": list(settings.share_with),
        "copy_to": list(settings.copy_to),
        "kms_key": settings.kms_key,
        "aws": _aws_details(settings),
    }
    unfinished = case.unfinished("evidence.cloud-snapshot")
    reconciled = [_reconcile(case, ready, i.run, i.details) for i in unfinished]
    case.intend("evidence.cloud-snapshot", details, run=run)
    with case.step("evidence.cloud-snapshot", {"run": run}) as outcome:
        report = collector.run(case, progress=progress)
        result = CloudSnapshotResult.model_validate(
            {"run": run, **report.to_json(), "reconciled": reconciled}
        )
        outcome.update(
            result="incomplete" if result.problem else "ok",
            record=result.record,
            snapshots={s.snapshot_id: s.state for s in result.snapshots},
            failed=[f.model_dump() for f in result.failed],
        )
    return result


def _reconcile(
    case: Case, settings: CloudSnapshotStepSettings, run: str, intent: dict[str, Any]
) -> Reconciled:
    """Read back what an unfinished run created (by its tag), stage it, journal it."""
    collector = CLOUD_SNAPSHOT.build(settings.model_copy(update={"run": run}))
    with case.step("evidence.cloud-snapshot", {"run": run, "reconciling": True}) as outcome:
        report = collector.reconcile(case, list(intent.get("copy_to") or []))
        data = report.to_json()
        outcome.update(
            result="reconciled",
            record=report.record,
            snapshots={s["snapshot_id"]: s["state"] for s in data["snapshots"]},
            failed=data["failed"],
        )
    return Reconciled.model_validate({"run": run, **data})
