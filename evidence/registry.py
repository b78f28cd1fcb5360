"""The evidence collectors by name, each with its typed settings.

    collector = build("postgres.audit", {"dsn": dsn, "table": "public.audit_log",
                                         "time_column": "occurred_at",
                                         "since": "2026-11-01", "until": "2026-11-03"})
    artifacts, failures = collector.collect(case)

A playbook step names a collector and gives its settings as YAML; the procedure layer
(breach.procedure.evidence) builds its collectors through the same entries, typed:
`AUDIT_TABLE.build(AuditTableSettings(...))` is an `AuditExport`. Settings are validated when
built (a bad value is a pydantic ValidationError naming the field); the collector's own module,
and with it pyarrow and the drivers, is imported only then.

A new collector: its settings (a CollectorSettings), a factory that imports its module and
builds it from them, and one `Entry` in COLLECTORS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import ConfigDict, Field

from core.errors import BadInput
from core.models import Moment
from core.permissions import PgNeed
from evidence.aws import settings as aws_settings
from evidence.aws.cloudtrail_settings import CloudTrailSettings, build_cloudtrail
from evidence.interface import Collector, CollectorSettings, Window

if TYPE_CHECKING:
    from evidence.postgres.audit import AuditExport
    from evidence.postgres.pgaudit import PgauditExport
    from evidence.postgres.snapshot import TableSnapshot

S = TypeVar("S", bound=CollectorSettings)
C = TypeVar("C", bound=Collector)

# Worker connections, all on one snapshot.
Jobs = Annotated[int, Field(ge=1, le=32)]


class AuditTableSettings(CollectorSettings):
    """An audit table (or a query) in a window, to day-partitioned Parquet under audit/."""

    pg_needs: ClassVar[tuple[PgNeed, ...]] = (
        PgNeed("SELECT", on="table", why="export the window"),
    )

    dsn: str = Field(default="", description="libpq DSN or URL; PG* variables fill gaps")
    table: str | None = Field(default=None, description="schema.table")
    query: str | None = Field(default=None, description="source SQL instead of a table")
    time_column: str
    since: Moment
    until: Moment
    actors: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    actor_column: str | None = None
    ip_column: str | None = None
    artifact: str | None = Field(default=None, description="audit/NAME; default: the table")
    jobs: Jobs = 2


class PgauditLogSettings(CollectorSettings):
    """pgaudit's AUDIT: records of a server log in a window, to Parquet under audit/."""

    log: Path
    since: Moment
    until: Moment
    actors: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    artifact: str = "pgaudit"
    log_timezone: str | None = Field(default=None, description="zone of abbreviated log times")


class TableSnapshotSettings(CollectorSettings):
    """Tables read at one point in time, to Parquet with their DDL under snapshot/."""

    # LOCK TABLE ... IN ACCESS SHARE MODE and the read both need only SELECT.
    pg_needs: ClassVar[tuple[PgNeed, ...]] = (
        PgNeed("SELECT", on="tables", why="lock (ACCESS SHARE) and read at one snapshot"),
    )

    model_config = ConfigDict(populate_by_name=True)

    dsn: str = ""
    tables: list[str] = Field(default_factory=list)
    schema_name: str | None = Field(default=None, alias="schema")
    jobs: Jobs = 2


def _audit_table(settings: AuditTableSettings) -> AuditExport:
    from evidence.postgres.audit import AuditExport

    return AuditExport(
        dsn=settings.dsn,
        window=Window(settings.since, settings.until),
        time_column=settings.time_column,
        table=settings.table,
        query=settings.query,
        actors=list(settings.actors),
        ips=list(settings.ips),
        actor_column=settings.actor_column,
        ip_column=settings.ip_column,
        artifact=settings.artifact,
        jobs=settings.jobs,
    )


def _pgaudit_log(settings: PgauditLogSettings) -> PgauditExport:
    from evidence.postgres.pgaudit import PgauditExport, parse_zone_option

    return PgauditExport(
        log=settings.log,
        window=Window(settings.since, settings.until),
        actors=list(settings.actors),
        ips=list(settings.ips),
        artifact=settings.artifact,
        log_timezone=parse_zone_option(settings.log_timezone),
    )


def _table_snapshot(settings: TableSnapshotSettings) -> TableSnapshot:
    from evidence.postgres.snapshot import TableSnapshot

    return TableSnapshot(
        dsn=settings.dsn,
        tables=list(settings.tables),
        schema=settings.schema_name,
        jobs=settings.jobs,
    )


@dataclass(frozen=True)
class Entry(Generic[S, C]):
    """One collector: its name, its settings and how it is built from them."""

    name: str
    settings: type[S]
    factory: Callable[[S], C]

    def build(self, settings: S | Mapping[str, Any]) -> C:
        if not isinstance(settings, self.settings):
            settings = self.settings.model_validate(settings)
        return self.factory(settings)


AUDIT_TABLE = Entry("postgres.audit", AuditTableSettings, _audit_table)
PGAUDIT_LOG = Entry("postgres.pgaudit", PgauditLogSettings, _pgaudit_log)
TABLE_SNAPSHOT = Entry("postgres.snapshot", TableSnapshotSettings, _table_snapshot)

COLLECTORS: dict[str, Entry[Any, Any]] = {
    entry.name: entry for entry in (AUDIT_TABLE, PGAUDIT_LOG, TABLE_SNAPSHOT)
}
CLOUDTRAIL = Entry("aws.cloudtrail", CloudTrailSettings, build_cloudtrail)
COLLECTORS[CLOUDTRAIL.name] = CLOUDTRAIL


# AWS: CloudWatch Logs and VPC flow logs, access logs, snapshots (evidence.aws.settings).
CLOUDWATCH = Entry("aws.cloudwatch", aws_settings.CloudWatchSettings, aws_settings.cloudwatch)
S3_LOGS = Entry("aws.s3-logs", aws_settings.S3LogsSettings, aws_settings.s3_logs)
CLOUD_SNAPSHOT = Entry("aws.snapshot", aws_settings.SnapshotSettings, aws_settings.snapshots)
COLLECTORS.update({e.name: e for e in (CLOUDWATCH, S3_LOGS, CLOUD_SNAPSHOT)})


def entry(name: str) -> Entry[Any, Any]:
    found = COLLECTORS.get(name)
    if found is None:
        raise BadInput(
            f"no evidence collector named {name!r}", hint=f"one of: {', '.join(sorted(COLLECTORS))}"
        )
    return found


def build(name: str, settings: CollectorSettings | Mapping[str, Any]) -> Collector:
    """The collector `name`, built from its settings (a model, or a mapping from YAML)."""
    collector: Collector = entry(name).build(settings)
    return collector
