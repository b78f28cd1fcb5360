"""Preserve the evidence and find the scope: export-audit, snapshot, scope.

    exported = export_audit(ExportAuditSettings(case="INC-1", dsn=dsn, table="public.audit_log",
                                                time_column="occurred_at",
                                                since="2026-11-01", until="2026-11-03"))
    plan = snapshot_plan(SnapshotSettings(case="INC-1", dsn=dsn, tables=["public.users"]))
    taken = snapshot(SnapshotSettings(case="INC-1", dsn=dsn, tables=["public.users"]))
    found = scope(ScopeSettings(case="INC-1", actors=["mallory"], ips=["203.0.113.0/24"]))

Each step loads the case, checks its inputs, builds its collectors through evidence.registry,
journals itself with Case.step (ok, empty, dry-run or failed) and returns a result; warnings are
data in the result (the CLI prints them on stderr). A snapshot with tables it could not read
returns them in `failed` (journaled as failed); whoever called it decides what that means (the
CLI exits 1 after showing what was taken).

The export path never imports pyarrow.dataset (nor, through it, pandas); only scope reads
Parquet back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from breach.case import Case
from core.errors import BadInput
from core.models import Moment
from core.records import ScopeRecord
from core.redact import redact_dsn
from evidence.interface import ArtifactResult, Progress, Window
from evidence.registry import (
    AUDIT_TABLE,
    PGAUDIT_LOG,
    TABLE_SNAPSHOT,
    AuditTableSettings,
    Jobs,
    PgauditLogSettings,
    TableSnapshotSettings,
)


# -- export-audit ----------------------------------------------------------------------------
class ExportAuditSettings(BaseModel):
    """An audit table or query (needs its time column), and/or a pgaudit log, for a window."""

    model_config = ConfigDict(extra="forbid")

    case: str
    dsn: str = ""
    table: str | None = None
    query: str | None = None
    time_column: str | None = None
    since: Moment
    until: Moment
    actors: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    actor_column: str | None = None
    ip_column: str | None = None
    pgaudit_log: Path | None = None
    log_timezone: str | None = None
    name: str | None = Field(default=None, description="stage as audit/NAME")
    jobs: Jobs = 2


class AuditArtifact(BaseModel):
    """One staged export, as its sidecar describes it."""

    artifact: str
    table: str | None = None
    row_count: int
    oldest_event: str | None = None
    newest_event: str | None = None
    pg_snapshot: str | None = None
    lsn: str | None = None
    window: dict[str, str] | None = None


class ExportAuditResult(BaseModel):
    artifacts: list[AuditArtifact]
    warnings: list[str]


def export_audit(
    settings: ExportAuditSettings, *, progress: Progress | None = None
) -> ExportAuditResult:
    """Stream an audit table, query or pgaudit log for the window to day-partitioned Parquet.

    With both a table (or query) and a log, the table's export is staged under its table name
    (or `name`) and the log's as audit/pgaudit. `progress(table, rows)` is called from worker
    threads as rows arrive.
    """
    s = settings
    case = Case.load(s.case, write=True)
    window = Window(s.since, s.until)
    if not (s.table or s.query or s.pgaudit_log):
        raise BadInput("nothing to export: give an audit table, a query or a pgaudit log")
    if (s.table or s.query) and not s.time_column:
        raise BadInput("an audit table or query needs its time column", field="time_column")
    table = None
    if s.table or s.query:
        table = AUDIT_TABLE.build(
            AuditTableSettings(
                dsn=s.dsn,
                table=s.table,
                query=s.query,
                time_column=s.time_column or "",
                actor_column=s.actor_column,
                ip_column=s.ip_column,
                artifact=s.name if not s.pgaudit_log else None,
                jobs=s.jobs,
                since=s.since,
                until=s.until,
                actors=s.actors,
                ips=s.ips,
            )
        )
        table.progress = progress
    log = None
    if s.pgaudit_log:
        artifact = s.name if s.name and not (s.table or s.query) else "pgaudit"
        log = PGAUDIT_LOG.build(
            PgauditLogSettings(
                log=s.pgaudit_log,
                artifact=artifact,
                log_timezone=s.log_timezone,
                since=s.since,
                until=s.until,
                actors=s.actors,
                ips=s.ips,
            )
        )
    results: list[ArtifactResult] = []
    if table is not None:
        details = {"source": s.table or "query", "dsn": redact_dsn(s.dsn), **window.to_json()}
        with case.step("evidence.export-audit", details) as outcome:
            results.append(table.export(case))
            outcome.update(_outcome(results[-1]))
    if log is not None:
        details = {"source": f"pgaudit log {log.log.name}", **window.to_json()}
        with case.step("evidence.export-audit", details) as outcome:
            results.append(log.export(case))
            outcome.update(_outcome(results[-1]))
    return ExportAuditResult(
        artifacts=[_summary(r) for r in results],
        warnings=[w for r in results for w in r.warnings],
    )


def _outcome(result: ArtifactResult) -> dict[str, Any]:
    return {
        "result": "empty" if result.row_count == 0 else "ok",
        "artifact": result.name,
        "rows": result.row_count,
        "warnings": result.warnings,
    }


def _summary(result: ArtifactResult) -> AuditArtifact:
    source = result.meta.get("source", {})
    keys = ("table", "row_count", "oldest_event", "newest_event", "pg_snapshot", "lsn", "window")
    return AuditArtifact(artifact=result.name, **{k: source.get(k) for k in keys})


# -- snapshot --------------------------------------------------------------------------------
class SnapshotSettings(TableSnapshotSettings):
    """Tables (named, or every table of a schema) to read at one point in time."""

    case: str


class TableEstimate(BaseModel):
    table: str
    estimated_rows: int | None = Field(description="reltuples; None: never analyzed")
    total_bytes: int
    lock: str


class SnapshotPlan(BaseModel):
    """What a snapshot would read: catalog estimates, no lock taken, no row read."""

    dry_run: Literal[True] = True
    tables: list[TableEstimate]


class StagedArtifact(BaseModel):
    name: str
    row_count: int
    meta: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)


class NotCollected(BaseModel):
    target: str
    reason: str


class SnapshotResult(BaseModel):
    snapshot: dict[str, Any] = Field(description="snapshot id, LSN, txid, server, taken_at")
    folder: str
    exported: list[StagedArtifact]
    failed: list[NotCollected]

    @property
    def warnings(self) -> list[str]:
        return [w for artifact in self.exported for w in artifact.warnings]

    @property
    def problem(self) -> str | None:
        """One line naming the tables not snapshotted, or None when every table was."""
        if not self.failed:
            return None
        names = ", ".join(f"{f.target} ({f.reason})" for f in self.failed)
        return f"{len(self.failed)} table(s) not snapshotted: {names}"


def _snapshot_details(settings: SnapshotSettings) -> dict[str, Any]:
    return {
        "dsn": redact_dsn(settings.dsn),
        "tables": list(settings.tables),
        "schema": settings.schema_name,
    }


def snapshot_plan(settings: SnapshotSettings) -> SnapshotPlan:
    """The dry run: which tables, estimated rows and sizes; journaled as `dry-run`."""
    case = Case.load(settings.case, write=True)
    collector = TABLE_SNAPSHOT.build(settings)
    details = {**_snapshot_details(settings), "dry_run": True}
    with case.step("evidence.snapshot", details) as outcome:
        estimates = [e.to_json() for e in collector.estimate()]
        outcome.update(result="dry-run", estimates=estimates)
    return SnapshotPlan(tables=[TableEstimate.model_validate(e) for e in estimates])


def snapshot(settings: SnapshotSettings, *, progress: Progress | None = None) -> SnapshotResult:
    """Read the tables at ONE point in time (an exported snapshot) to Parquet with their DDL."""
    case = Case.load(settings.case, write=True)
    collector = TABLE_SNAPSHOT.build(settings)
    collector.progress = progress
    with case.step("evidence.snapshot", _snapshot_details(settings)) as outcome:
        report = collector.run(case)
        outcome.update(
            result="failed" if report.failed else "ok",
            snapshot=report.snapshot,
            exported={a.name: a.row_count for a in report.exported},
            failed=[f.to_json() for f in report.failed],
        )
    return SnapshotResult.model_validate(report.to_json())


# -- scope -----------------------------------------------------------------------------------
class ScopeSettings(BaseModel):
    """Indicators (compromised principals, attacker addresses or CIDR blocks) and a window
    (default: the exports' own)."""

    model_config = ConfigDict(extra="forbid")

    case: str
    actors: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    since: Moment | None = None
    until: Moment | None = None


class ScopeResult(ScopeRecord):
    """The scope stored in the case (the ScopeRecord fields), the details of scope.json, and
    what the exports cannot show."""

    events: int
    indicators: dict[str, list[str]]
    principal_events: dict[str, int]
    source_ip_events: dict[str, int]
    sources: list[dict[str, Any]]
    contacts_from: str | None
    records_touched_artifact: str
    warnings: list[str]
    cloud: dict[str, Any] | None = Field(
        default=None,
        description="from CloudTrail and VPC flow logs: actors first/last seen, API calls,"
        " resources, buckets and objects, denied attempts, flows",
    )

    def record(self) -> ScopeRecord:
        return ScopeRecord.model_validate(self.model_dump(include=set(ScopeRecord.model_fields)))


def scope(settings: ScopeSettings) -> ScopeResult:
    """Count what the indicators touched in the staged audit exports, stage the affected users,
    journal `scope.compute` and store the scope in the case."""
    from evidence.scope import Indicators, compute_scope

    case = Case.load(settings.case, write=True)
    indicators = Indicators(settings.actors, settings.ips, settings.since, settings.until)
    with case.step("scope.compute", {"actors": settings.actors, "ips": settings.ips}) as outcome:
        computed = compute_scope(case, indicators)
        outcome.update(
            events=computed.details["events"],
            affected_users=computed.scope.affected_users,
            warnings=computed.warnings,
        )
    case.update("scope computed", scope=computed.scope)
    return ScopeResult.model_validate({**computed.details, "warnings": computed.warnings})
