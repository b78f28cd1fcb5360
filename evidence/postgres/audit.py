"""Export an audit table (or any query) for the affected window to day-partitioned Parquet.

audit/<name>/day=2026-11-01/part-0000.parquet   one file per UTC day of the time column
audit/<name>.meta.json                          query, DSN (redacted), window, counts, schema,
                                                snapshot, LSN: what sealing signs
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from core import faults
from core.artifacts import collector, describe, sidecar_path
from core.errors import BadInput, BreachError, StepFailed
from core.fsio import line_safe, qualified_file
from core.progress import expect
from core.redact import redact_dsn
from core.timeutil import rfc3339
from evidence.interface import (
    PARQUET_MEDIA_TYPE,
    ArtifactResult,
    FailedItem,
    Progress,
    Stager,
    Window,
    commit_staged,
    staged_name,
)
from evidence.parquet import ParquetSink, SinkStats, by_day, temp_dir_for
from evidence.postgres import catalog, types
from evidence.postgres.connect import ConnectionLost, classify, connect_control, server_version
from evidence.postgres.stream import (
    DEFAULT_BATCH_BYTES,
    ReadTask,
    require_adbc,
    run_tasks,
)

COLLECTOR = "evidence.postgres.audit"
TIME_TYPES = ("timestamptz", "timestamp", "date")
# Columns a scope computation looks for, by role, when the caller does not name them.
ROLE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "actor": ("actor", "principal", "username", "user_name", "usename", "login", "user_id"),
    "ip": ("source_ip", "client_ip", "ip", "ip_address", "remote_addr", "client_addr"),
    "action": ("action", "operation", "command", "event", "event_type", "verb"),
    "table": ("table_name", "object_name", "target_table", "resource", "relation", "table"),
    "record": ("record_id", "row_id", "object_id", "target_id", "resource_id", "row"),
    "subject": (
        "target_user_id",
        "subject_user_id",
        "affected_user_id",
        "subject_id",
        "customer_id",
        "user_id",
    ),
}


def parse_networks(values: list[str]) -> list[str]:
    """Validate IP indicators (addresses or CIDR blocks) into canonical CIDR text."""
    networks = []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise BadInput(f"{value!r} is not an IP address or CIDR block", field="ips") from None
    return networks


def detect_roles(names: list[str], given: dict[str, str | None]) -> dict[str, str]:
    """Which column plays actor, ip, action, table, record and subject, by name."""
    lowered = {n.lower(): n for n in names}
    roles: dict[str, str] = {}
    for role, candidates in ROLE_CANDIDATES.items():
        chosen = given.get(role)
        if chosen:
            if chosen not in names:
                raise BadInput(f"unknown {role} column {chosen!r}", field=f"{role}_column")
            roles[role] = chosen
            continue
        for candidate in candidates:
            if candidate in lowered and lowered[candidate] not in roles.values():
                roles[role] = lowered[candidate]
                break
    return roles


def export_name(name: str) -> str:
    """An export's folder under audit/: one plain name, so sealing and scope both find it
    (sealing skips dot-names as temporaries; scope looks one level down), and one that fits
    on a manifest's line (no control character or line break)."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or not line_safe(name):
        raise BadInput(
            f"export name {name!r} is not a plain name",
            hint="one word, no '/', not starting with '.'",
            field="name",
        )
    return name


def schema_sha256(schema: pa.Schema) -> str:
    return hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()


def artifact_meta(
    source: dict[str, Any], stats: SinkStats, schema: pa.Schema, collector_name: str = COLLECTOR
) -> dict[str, Any]:
    """The sidecar of a day-partitioned export: its source plus what was written."""
    written = {
        "row_count": stats.rows,
        "oldest_event": event_time(stats.oldest),
        "newest_event": event_time(stats.newest),
        "schema_sha256": schema_sha256(schema),
        "arrow_schema": schema.to_string(show_schema_metadata=False),
        "partitions": [{"path": p, "rows": n} for p, n in sorted(stats.files.items())],
    }
    return {
        "media_type": PARQUET_MEDIA_TYPE,
        "source": {**source, **written},
        "collector": collector(collector_name),
    }


def event_time(value: Any) -> str | None:
    """Oldest/newest event as RFC 3339; naive timestamps and dates are taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return rfc3339(value)


@dataclass
class AuditExport:
    """Collector: one audit source, one window, one day-partitioned Parquet artifact."""

    dsn: str
    window: Window
    time_column: str
    table: str | None = None
    query: str | None = None
    actors: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    actor_column: str | None = None
    ip_column: str | None = None
    artifact: str | None = None  # staged as audit/<artifact>; default: the table's name
    jobs: int = 2
    batch_bytes: int = DEFAULT_BATCH_BYTES
    progress: Progress | None = None
    name: str = COLLECTOR

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        try:
            return [self.export(stager)], []
        except StepFailed as exc:
            return [], [FailedItem(self.source_label, exc.message)]

    @property
    def source_label(self) -> str:
        return self.table or "query"

    def artifact_name(self) -> str:
        if self.artifact:
            return export_name(self.artifact)
        if self.table:
            schema, name = catalog.split_name(self.table)
            return qualified_file(schema, name)
        raise BadInput("a query's export needs a name to be staged under", field="name")

    def export(self, stager: Stager) -> ArtifactResult:
        """Export the window; raise BadInput / StepFailed, leaving nothing partial staged."""
        if bool(self.table) == bool(self.query):
            raise BadInput("an audit export reads a table or a query, not both", field="query")
        require_adbc()
        networks = parse_networks(self.ips)
        final = stager.stage_path(f"audit/{self.artifact_name()}")
        if final.exists():
            raise BadInput(
                f"{final} is already staged",
                hint="give this export another name to stage it separately",
                field="name",
            )
        control = connect_control(self.dsn)
        try:
            return self._export(control, stager, final, networks)
        finally:
            control.close()

    def _export(
        self, control: psycopg.Connection[Any], stager: Stager, final: Path, networks: list[str]
    ) -> ArtifactResult:
        catalog.begin_snapshot_transaction(control)
        relation, source = self._source(control)
        columns = self._columns(control, relation, source)
        names = [c.name for c in columns]
        roles = detect_roles(names, {"actor": self.actor_column, "ip": self.ip_column})
        roles["time"] = self.time_column
        where = self._where(control, roles, networks)
        plans = self._plans(control, columns, source, where)
        schema = types.arrow_schema(plans)
        select = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(p.select for p in plans), source, where
        )
        warnings = []
        if relation is not None:
            catalog.lock_access_share(control, relation)
            if rls := catalog.row_security_warning(control, relation):
                warnings.append(rls)
        snapshot = catalog.export_snapshot(control)
        version = server_version(control)
        query_text = select.as_string(control)
        tasks = self._tasks(control, relation, select, plans)
        expect(self.progress, catalog.estimated_rows(control, select))  # an estimate, for ETA
        stats, tmp = self._run(final, schema, tasks, snapshot.snapshot_id)
        if stats.rows == 0:
            warnings.append(
                f"no rows in {self.source_label} between {rfc3339(self.window.since)} and"
                f" {rfc3339(self.window.until)}: staged an empty artifact"
            )
        origin = {
            "system": "postgresql",
            "dsn": redact_dsn(self.dsn),
            "server_version": version,
            "table": relation.qualified if relation else None,
            "schema_name": relation.schema if relation else None,  # the names themselves:
            "table_name": relation.name if relation else None,  # the folder's name is encoded
            "query": query_text,
            "window": self.window.to_json(),
            "filters": {"actors": self.actors, "ips": networks},
            "time_column": self.time_column,
            "roles": roles,
            **snapshot.to_json(),
        }
        meta = artifact_meta(origin, stats, schema)
        faults.point("export.written")
        sidecar = sidecar_path(tmp)
        try:  # described under the hidden name too: both become visible at the commit
            describe(tmp, meta)
            commit_staged(stager, sidecar, sidecar_path(final))
            commit_staged(stager, tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            sidecar.unlink(missing_ok=True)
            raise
        return ArtifactResult(staged_name(stager, final), stats.rows, meta, warnings)

    # -- steps ---------------------------------------------------------------------------
    def _source(
        self, control: psycopg.Connection[Any]
    ) -> tuple[catalog.Relation | None, sql.Composable]:
        if self.table:
            relation = catalog.resolve_relation(control, self.table)
            catalog.check_readable(control, relation)
            return relation, relation.ident
        text = (self.query or "").strip().rstrip(";")
        return None, sql.SQL("({}) AS q").format(sql.SQL(text))

    def _columns(
        self,
        control: psycopg.Connection[Any],
        relation: catalog.Relation | None,
        source: sql.Composable,
    ) -> list[types.Column]:
        try:
            if relation is not None:
                columns = types.relation_columns(control, relation.oid)
            else:
                inner = sql.SQL("SELECT * FROM {}").format(source)
                with control.transaction():
                    columns = types.query_columns(control, inner)
        except psycopg.Error as exc:
            raise classify(exc, self.source_label) from None
        by_name = {c.name: c for c in columns}
        column = by_name.get(self.time_column)
        if column is None:
            raise BadInput(
                f"unknown column {self.time_column!r} in {self.source_label}",
                hint=f"columns: {', '.join(by_name)}",
                field="time_column",
            )
        if column.typname not in TIME_TYPES or column.is_array:
            raise BadInput(
                f"time column {self.time_column} is {column.formatted}, not a timestamp",
                field="time_column",
            )
        return columns

    def _where(
        self, control: psycopg.Connection[Any], roles: dict[str, str], networks: list[str]
    ) -> sql.Composable:
        time_col = sql.Identifier(self.time_column)
        clauses: list[sql.Composable] = [
            sql.SQL("{} >= {} AND {} < {}").format(
                time_col, sql.Literal(self.window.since), time_col, sql.Literal(self.window.until)
            )
        ]
        matches: list[sql.Composable] = []
        if self.actors:
            if "actor" not in roles:
                raise BadInput("actors given but no actor column found", field="actor_column")
            matches.append(
                sql.SQL("{}::text = ANY({})").format(
                    sql.Identifier(roles["actor"]), sql.Literal(self.actors)
                )
            )
        if networks:
            if "ip" not in roles:
                raise BadInput("IP addresses given but no IP column found", field="ip_column")
            matches.append(
                sql.SQL("{}::inet <<= ANY({}::inet[])").format(
                    sql.Identifier(roles["ip"]), sql.Literal(networks)
                )
            )
        if matches:  # an event is in scope when it matches any indicator
            clauses.append(sql.SQL("({})").format(sql.SQL(" OR ").join(matches)))
        return sql.SQL(" AND ").join(clauses)

    def _plans(
        self,
        control: psycopg.Connection[Any],
        columns: list[types.Column],
        source: sql.Composable,
        where: sql.Composable,
    ) -> list[types.ColumnPlan]:
        bounds: dict[str, tuple[int, int] | None] = {}
        filtered = sql.SQL("{} WHERE {}").format(source, where)
        try:
            for column in types.unconstrained_numerics(columns):
                row = control.execute(types.numeric_bounds_sql(column, filtered)).fetchone()
                bounds[column.name] = types.bounds_from_row(row)
        except psycopg.Error as exc:
            raise classify(exc, self.source_label) from None
        return [types.plan_column(c, bounds.get(c.name)) for c in columns]

    def _tasks(
        self,
        control: psycopg.Connection[Any],
        relation: catalog.Relation | None,
        select: sql.Composable,
        plans: list[types.ColumnPlan],
    ) -> list[ReadTask]:
        label = self.source_label
        if relation is None or relation.relkind != "r" or self.jobs <= 1:
            return [ReadTask(label, select.as_string(control), label)]
        try:
            whole = catalog.plan_scans_whole_table(control, select)
        except psycopg.Error as exc:
            raise classify(exc, label) from None
        ranges = catalog.ctid_ranges(relation.pages, self.jobs) if whole else [(0, None)]
        tasks = []
        for block_range in ranges:
            query = sql.SQL("{} AND {}").format(select, catalog.ctid_filter(block_range))
            tasks.append(ReadTask(label, query.as_string(control), label))
        return tasks

    def _run(
        self, final: Path, schema: pa.Schema, tasks: list[ReadTask], snapshot_id: str
    ) -> tuple[SinkStats, Path]:
        """Stream every task into one sink; one retry, on the same snapshot, if a link drops."""
        label = self.source_label
        for attempt in (1, 2):
            tmp = temp_dir_for(final)
            sink = ParquetSink(tmp, schema, by_day(self.time_column), time_column=self.time_column)
            try:
                result = run_tasks(
                    self.dsn,
                    snapshot_id,
                    tasks,
                    {label: sink},
                    jobs=self.jobs,
                    batch_bytes=self.batch_bytes,
                    progress=self.progress,
                )
                error: BreachError | None = result.failed.get(label)
                if error is None:
                    empty = f"day={self.window.since.astimezone(UTC).date().isoformat()}/part-0000.parquet"
                    return sink.finish(empty_file=empty), tmp
            except BaseException:
                sink.abort()
                raise
            sink.abort()
            if not isinstance(error, ConnectionLost) or attempt == 2:
                raise error
        raise AssertionError("unreachable")
