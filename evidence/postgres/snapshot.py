"""Snapshot tables at ONE point in time: Parquet with DDL and exact row counts.

    snapshot/<snapshot-id>/<schema.table>.parquet      the rows the snapshot sees
    snapshot/<snapshot-id>/<schema.table>.ddl.sql      columns, types, constraints, indexes
    snapshot/<snapshot-id>/snapshot.json               tables, failures, snapshot id, LSN, txid

Schema and table names come from the server under investigation: <schema.table> is
core.fsio.qualified_file of the two (percent-encoded, '.' inside a name too), and each sidecar
keeps the names themselves (source.schema_name, source.table_name).

One REPEATABLE READ READ ONLY transaction takes ACCESS SHARE locks (so no DDL can change a table
under us; writers are never blocked) and exports its snapshot; every worker adopts it. A table the
role may not read is recorded as failed with the reason, and the others are still exported.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from core import faults
from core.artifacts import collector, describe
from core.errors import BadInput, BreachError, StepFailed
from core.fsio import qualified_file, write_json, write_text
from core.progress import expect
from core.redact import redact_dsn
from core.timeutil import rfc3339, utcnow
from evidence.interface import (
    PARQUET_MEDIA_TYPE,
    ArtifactResult,
    FailedItem,
    Progress,
    Stager,
    commit_staged,
    staged_name,
)
from evidence.parquet import ParquetSink, commit_file, single_file
from evidence.postgres import catalog, types
from evidence.postgres.audit import schema_sha256
from evidence.postgres.connect import ConnectionLost, classify, connect_control, server_version
from evidence.postgres.stream import (
    DEFAULT_BATCH_BYTES,
    ReadTask,
    require_adbc,
    run_tasks,
)

COLLECTOR = "evidence.postgres.snapshot"


@dataclass(frozen=True)
class TableEstimate:
    table: str
    estimated_rows: int | None
    total_bytes: int
    lock: str = "ACCESS SHARE"

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "estimated_rows": self.estimated_rows,
            "total_bytes": self.total_bytes,
            "lock": self.lock,
        }


@dataclass
class TablePlan:
    relation: catalog.Relation
    schema: pa.Schema
    select: sql.Composable
    ddl: str
    warning: str | None = None

    @property
    def key(self) -> str:
        """The table's file name (without suffix), also its sink's key: unique per relation."""
        return qualified_file(self.relation.schema, self.relation.name)


@dataclass
class SnapshotReport:
    snapshot: dict[str, Any]
    folder: str
    exported: list[ArtifactResult] = field(default_factory=list)
    failed: list[FailedItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "folder": self.folder,
            "exported": [a.to_json() for a in self.exported],
            "failed": [f.to_json() for f in self.failed],
        }


@dataclass
class TableSnapshot:
    """Collector: a set of tables (named, or every table of a schema) read at one moment."""

    dsn: str
    tables: list[str] = field(default_factory=list)
    schema: str | None = None
    jobs: int = 1
    batch_bytes: int = DEFAULT_BATCH_BYTES
    progress: Progress | None = None
    name: str = COLLECTOR

    def collect(self, stager: Stager) -> tuple[list[ArtifactResult], list[FailedItem]]:
        report = self.run(stager)
        return report.exported, report.failed

    # -- dry run -------------------------------------------------------------------------
    def estimate(self) -> list[TableEstimate]:
        """What would be read: estimated rows and sizes from the catalog, no lock, no scan."""
        control = connect_control(self.dsn)
        try:
            return [
                TableEstimate(r.qualified, r.estimated_rows, r.total_bytes)
                for r in self._relations(control)
            ]
        finally:
            control.close()

    # -- the real thing ------------------------------------------------------------------
    def run(self, stager: Stager) -> SnapshotReport:
        require_adbc()
        control = connect_control(self.dsn)
        try:
            return self._run(control, stager)
        finally:
            control.close()

    def _relations(self, control: psycopg.Connection[Any]) -> list[catalog.Relation]:
        if not self.tables and not self.schema:
            raise BadInput("name at least one table, or a schema", field="tables")
        # every name is checked before anything is read
        found = [catalog.resolve_relation(control, name) for name in self.tables]
        if self.schema:
            found += catalog.tables_in_schema(control, self.schema)
        return list({relation.oid: relation for relation in found}.values())

    def _run(self, control: psycopg.Connection[Any], stager: Stager) -> SnapshotReport:
        catalog.begin_snapshot_transaction(control)
        relations = self._relations(control)
        failed: list[FailedItem] = []
        readable = []
        for relation in relations:
            try:
                catalog.check_readable(control, relation)
                catalog.lock_access_share(control, relation)
                readable.append(relation)
            except StepFailed as exc:
                failed.append(FailedItem(relation.qualified, exc.message))
        info = catalog.export_snapshot(control)
        snapshot = {
            **info.to_json(),
            "taken_at": rfc3339(utcnow()),
            "dsn": redact_dsn(self.dsn),
            "server_version": server_version(control),
        }
        plans = []
        for relation in readable:
            try:
                plans.append(self._plan(control, relation))
            except StepFailed as exc:
                failed.append(FailedItem(relation.qualified, exc.message))
        final = snapshot_folder(stager, info.snapshot_id)
        report = SnapshotReport(snapshot, staged_name(stager, final))
        report.failed = failed
        # Every table, its DDL and snapshot.json are written under a hidden name, then made
        # visible together: a snapshot is staged whole or not at all.
        folder = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        folder.mkdir()
        try:
            expect(self.progress, sum(p.relation.estimated_rows or 0 for p in plans))
            self._export(stager, folder, plans, info.snapshot_id, report)
            faults.point("snapshot.exported")
            # Read-only: ending the transaction changes nothing, and tables already read stay
            # consistent if the control connection was lost meanwhile (their workers held the
            # snapshot).
            with contextlib.suppress(psycopg.Error):
                control.rollback()
            self._write_summary(folder, report)
            faults.point("snapshot.written")
            commit_staged(stager, folder, final)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return report

    def _plan(self, control: psycopg.Connection[Any], relation: catalog.Relation) -> TablePlan:
        try:
            with control.transaction():
                columns = types.relation_columns(control, relation.oid)
                bounds = {
                    c.name: types.bounds_from_row(
                        control.execute(types.numeric_bounds_sql(c, relation.ident)).fetchone()
                    )
                    for c in types.unconstrained_numerics(columns)
                }
                ddl = catalog.table_ddl(control, relation)
        except psycopg.Error as exc:
            raise classify(exc, relation.qualified) from None
        plans = [types.plan_column(c, bounds.get(c.name)) for c in columns]
        select = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(p.select for p in plans) if plans else sql.SQL(""),
            relation.ident,
        )
        warning = catalog.row_security_warning(control, relation)
        return TablePlan(relation, types.arrow_schema(plans), select, ddl, warning)

    def _tasks(self, plans: list[TablePlan]) -> list[ReadTask]:
        tasks = []
        for plan in sorted(plans, key=lambda p: -p.relation.pages):
            splittable = plan.relation.relkind == "r"
            ranges = catalog.ctid_ranges(plan.relation.pages, self.jobs if splittable else 1)
            for block_range in ranges:
                query = sql.SQL("{} WHERE {}").format(plan.select, catalog.ctid_filter(block_range))
                tasks.append(ReadTask(plan.key, query.as_string(), plan.key))
        return tasks

    def _export(
        self,
        stager: Stager,
        folder: Path,
        plans: list[TablePlan],
        snapshot_id: str,
        report: SnapshotReport,
    ) -> None:
        tmp_root = folder / f".tmp-{uuid.uuid4().hex[:8]}"
        try:
            remaining = plans
            for attempt in (1, 2):  # a dropped link is retried once, on the same snapshot
                lost = self._export_round(stager, folder, tmp_root, remaining, snapshot_id, report)
                if not lost:
                    break
                if attempt == 2:
                    report.failed += [
                        FailedItem(p.relation.qualified, error.message) for p, error in lost
                    ]
                remaining = [p for p, _ in lost]
        finally:
            shutil.rmtree(tmp_root, ignore_errors=True)

    def _export_round(
        self,
        stager: Stager,
        folder: Path,
        tmp_root: Path,
        plans: list[TablePlan],
        snapshot_id: str,
        report: SnapshotReport,
    ) -> list[tuple[TablePlan, BreachError]]:
        """One pass over `plans`; returns the tables lost to a dropped connection."""
        sinks = {
            p.key: ParquetSink(tmp_root / p.key, p.schema, single_file(f"{p.key}.parquet"))
            for p in plans
        }
        lost: list[tuple[TablePlan, BreachError]] = []
        try:
            result = run_tasks(
                self.dsn,
                snapshot_id,
                self._tasks(plans),
                sinks,
                jobs=self.jobs,
                batch_bytes=self.batch_bytes,
                progress=self.progress,
            )
            for plan in plans:
                error = result.failed.get(plan.key)
                if error is None:
                    report.exported.append(
                        self._commit(stager, folder, tmp_root, plan, sinks.pop(plan.key), report)
                    )
                elif isinstance(error, ConnectionLost):
                    lost.append((plan, error))
                else:
                    report.failed.append(FailedItem(plan.relation.qualified, error.message))
        finally:
            for sink in sinks.values():
                sink.abort()
        return lost

    def _commit(
        self,
        stager: Stager,
        folder: Path,
        tmp_root: Path,
        plan: TablePlan,
        sink: ParquetSink,
        report: SnapshotReport,
    ) -> ArtifactResult:
        stats = sink.finish(empty_file=f"{plan.key}.parquet")
        parquet = folder / f"{plan.key}.parquet"
        source = {
            "system": "postgresql",
            "dsn": report.snapshot["dsn"],
            "server_version": report.snapshot["server_version"],
            "table": plan.relation.qualified,
            "schema_name": plan.relation.schema,
            "table_name": plan.relation.name,
            "query": plan.select.as_string(),
            "row_count": stats.rows,
            "estimated_rows": plan.relation.estimated_rows,
            "schema_sha256": schema_sha256(plan.schema),
            "arrow_schema": plan.schema.to_string(show_schema_metadata=False),
            "taken_at": report.snapshot["taken_at"],
            **{
                k: report.snapshot[k] for k in ("pg_snapshot", "pg_current_snapshot", "lsn", "txid")
            },
        }
        meta = {
            "media_type": PARQUET_MEDIA_TYPE,
            "source": source,
            "collector": collector(COLLECTOR),
        }
        describe(parquet, meta)  # first: an artifact is never staged without its description
        commit_file(tmp_root / plan.key / f"{plan.key}.parquet", parquet)
        ddl_path = folder / f"{plan.key}.ddl.sql"
        header = (
            f"-- {plan.key} as of snapshot {report.snapshot['pg_snapshot']}"
            f" (LSN {report.snapshot['lsn']}), {stats.rows} rows\n"
        )
        write_text(ddl_path, header + plan.ddl)
        describe(
            ddl_path,
            {
                "media_type": "application/sql",
                "source": {k: v for k, v in source.items() if k not in ("arrow_schema", "query")},
                "collector": collector(COLLECTOR),
            },
        )
        faults.point("snapshot.table")
        name = f"{report.folder}/{parquet.name}"  # where it is once the snapshot is committed
        warnings = [plan.warning] if plan.warning else []
        return ArtifactResult(name, stats.rows, meta, warnings)

    def _write_summary(self, folder: Path, report: SnapshotReport) -> None:
        summary = {
            "snapshot": report.snapshot,
            "tables": {
                a.name.rsplit("/", 1)[-1][: -len(".parquet")]: a.row_count for a in report.exported
            },
            "failed": [f.to_json() for f in report.failed],
        }
        target = folder / "snapshot.json"
        write_json(target, summary)
        describe(
            target,
            {
                "media_type": "application/json",
                "source": {"system": "postgresql", **report.snapshot},
                "collector": collector(COLLECTOR),
            },
        )


def snapshot_folder(stager: Stager, snapshot_id: str) -> Path:
    """snapshot/<id>/ (not created: the snapshot is renamed to it whole); snapshot ids can
    repeat after a server restart, and evidence already staged is never overwritten, so a taken
    name gets the time appended."""
    folder = stager.stage_path(f"snapshot/{snapshot_id}")
    if folder.exists():
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        folder = stager.stage_path(f"snapshot/{snapshot_id}-{stamp}")
    return folder
