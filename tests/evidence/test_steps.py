"""The evidence steps as library calls (breach.procedure.evidence), on a real PostgreSQL.

What a playbook runner does: build the settings, call the step, read the result. No CLI here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from breach.case import Case
from breach.procedure.evidence import (
    ExportAuditSettings,
    ScopeSettings,
    SnapshotSettings,
    export_audit,
    scope,
    snapshot,
    snapshot_plan,
)
from core.errors import BadInput
from evidence import registry
from evidence.postgres.audit import AuditExport
from evidence.postgres.snapshot import TableSnapshot

from .cli.test_scope import USERS
from .conftest import execute, fetch, with_user
from .test_pgaudit import write_log

pytestmark = pytest.mark.pg

SINCE = "2026-11-01T06:00:00Z"
UNTIL = "2026-11-01T18:30:00Z"


def audit_settings(case: Case, dsn: str, **extra: object) -> ExportAuditSettings:
    values: dict[str, object] = {
        "case": str(case.root),
        "dsn": dsn,
        "table": "public.audit_log",
        "time_column": "occurred_at",
        "since": SINCE,
        "until": UNTIL,
    }
    return ExportAuditSettings.model_validate({**values, **extra})


def journal(case: Case, what: str) -> list[dict]:
    return [e for e in case.timeline() if e["what"] == what]


# -- export_audit --------------------------------------------------------------------------------
def test_export_audit_stages_the_window_and_journals_it(case, audit_dsn) -> None:
    seen: list[int] = []
    result = export_audit(
        audit_settings(case, audit_dsn), progress=lambda _key, rows: seen.append(rows)
    )
    expected = fetch(
        audit_dsn,
        "SELECT count(*), min(occurred_at), max(occurred_at) FROM audit_log"
        " WHERE occurred_at >= %s AND occurred_at < %s",
        (SINCE, UNTIL),
    )[0]
    [artifact] = result.artifacts
    assert artifact.artifact == "audit/public.audit_log"
    assert artifact.row_count == expected[0] == 750 == sum(seen)
    assert artifact.oldest_event == "2026-11-01T06:00:00Z"
    assert artifact.newest_event == "2026-11-01T18:29:00Z"
    assert artifact.window == {"since": SINCE, "until": UNTIL}
    assert artifact.pg_snapshot and artifact.lsn
    assert result.warnings == []
    folder = case.staging / "audit" / "public.audit_log"
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in folder.rglob("*.parquet")) == 750
    [entry] = journal(case, "evidence.export-audit")
    assert entry["result"] == "ok"
    assert entry["details"]["rows"] == 750 and entry["details"]["source"] == "public.audit_log"


def test_export_audit_empty_window_is_a_warning_in_the_result(case, audit_dsn) -> None:
    result = export_audit(audit_settings(case, audit_dsn, since="2030-01-01", until="2030-01-02"))
    assert result.artifacts[0].row_count == 0
    assert len(result.warnings) == 1 and "no rows" in result.warnings[0]
    assert journal(case, "evidence.export-audit")[-1]["result"] == "empty"


def test_export_audit_table_and_pgaudit_log_in_one_call(case, audit_dsn, tmp_path) -> None:
    log = write_log(tmp_path)
    result = export_audit(
        audit_settings(
            case,
            audit_dsn,
            since="2026-11-01",
            until="2026-11-03",
            pgaudit_log=str(log),
            name="ignored-for-the-table",
        )
    )
    # with a log too, the table keeps its own name and the log is staged as audit/pgaudit
    assert [a.artifact for a in result.artifacts] == ["audit/public.audit_log", "audit/pgaudit"]
    assert result.artifacts[1].table == "pgaudit" and result.artifacts[1].row_count == 5
    assert any("could not be parsed" in w for w in result.warnings)
    sources = [e["details"]["source"] for e in journal(case, "evidence.export-audit")]
    assert sources == ["public.audit_log", "pgaudit log postgresql.log"]


def test_export_audit_a_log_alone_takes_the_given_name(case, tmp_path) -> None:
    settings = ExportAuditSettings(
        case=str(case.root),
        pgaudit_log=write_log(tmp_path),
        since="2026-11-01",
        until="2026-11-03",
        name="db1-log",
    )
    assert [a.artifact for a in export_audit(settings).artifacts] == ["audit/db1-log"]


@pytest.mark.parametrize(
    ("extra", "message", "field"),
    [
        ({"table": None, "time_column": None}, "nothing to export", None),
        ({"time_column": None}, "needs its time column", "time_column"),
        ({"table": None, "query": "SELECT * FROM audit_log"}, "needs a name", "name"),
        ({"name": "../up"}, "not a plain name", "name"),
        ({"since": UNTIL, "until": SINCE}, "is not before", "since"),
        ({"ips": ["10.0.0.999"]}, "not an IP address", "ips"),
    ],
)
def test_export_audit_refuses_bad_input_naming_the_setting(
    case, audit_dsn, extra, message, field
) -> None:
    with pytest.raises(BadInput, match=message) as raised:
        export_audit(audit_settings(case, audit_dsn, **extra))
    assert raised.value.field == field
    assert not (case.staging / "audit").exists() or not any((case.staging / "audit").iterdir())


def test_export_audit_input_checks_come_before_the_journal_but_failures_are_journaled(
    case, audit_dsn
) -> None:
    with pytest.raises(BadInput):
        export_audit(audit_settings(case, audit_dsn, time_column=None))
    assert journal(case, "evidence.export-audit") == []  # refused before anything ran
    with pytest.raises(BadInput, match="unknown column 'nope'"):
        export_audit(audit_settings(case, audit_dsn, time_column="nope"))
    [failed] = journal(case, "evidence.export-audit")
    assert failed["result"] == "failed" and "unknown column" in failed["details"]["error"]


def test_settings_take_rfc3339_text_and_refuse_a_time_without_zone(case) -> None:
    with pytest.raises(ValidationError, match="not an RFC 3339 time") as bad:
        ExportAuditSettings(case="x", since="yesterday", until="2026-11-01")
    assert bad.value.errors()[0]["loc"] == ("since",)
    with pytest.raises(ValidationError, match="has no time zone"):
        ExportAuditSettings(case="x", since="2026-11-01T10:00:00", until="2026-11-02")
    good = ExportAuditSettings(case="x", since="2026-11-01", until="2026-11-02T01:00:00+01:00")
    assert good.since.isoformat() == "2026-11-01T00:00:00+00:00"
    assert good.until.utcoffset() is not None


def test_the_export_path_imports_neither_pyarrow_dataset_nor_pandas(case, audit_dsn) -> None:
    """0.1-0.3 s of every export's start-up: ADBC's DB-API module, zoned timestamps' as_py()
    and Python scalars all pull them in."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from breach.procedure.evidence import ExportAuditSettings, export_audit
        result = export_audit(ExportAuditSettings(
            case={str(case.root)!r}, dsn={audit_dsn!r}, table="public.audit_log",
            time_column="occurred_at", since="2026-11-01", until="2026-11-03"))
        print(json.dumps([result.artifacts[0].row_count,
                          sorted(m for m in ("pandas", "pyarrow.dataset") if m in sys.modules)]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [2000, []]  # two days: batches are split by day


# -- snapshot ------------------------------------------------------------------------------------
def test_snapshot_plan_estimates_and_stages_nothing(case, audit_dsn) -> None:
    execute(audit_dsn, "CREATE TABLE fresh AS SELECT 1 AS id")
    plan = snapshot_plan(
        SnapshotSettings(case=str(case.root), dsn=audit_dsn, tables=["public.audit_log", "fresh"])
    )
    assert plan.dry_run is True
    assert [(t.table, t.estimated_rows) for t in plan.tables] == [
        ("public.audit_log", 2000),
        ("public.fresh", None),  # never analyzed: unknown, not 0
    ]
    assert all(t.total_bytes > 0 and t.lock == "ACCESS SHARE" for t in plan.tables)
    assert not any(case.staging.iterdir())
    [entry] = journal(case, "evidence.snapshot")
    assert entry["result"] == "dry-run" and entry["details"]["dry_run"] is True


def test_snapshot_exports_and_returns_failures_as_data(case, audit_dsn, limited_role) -> None:
    execute(audit_dsn, USERS, "CREATE TABLE public.secrets (id int PRIMARY KEY, v text)")
    role, password = limited_role
    execute(audit_dsn, f"GRANT SELECT ON public.users, public.audit_log TO {role}")
    seen: list[str] = []
    result = snapshot(
        SnapshotSettings.model_validate(
            {
                "case": str(case.root),
                "dsn": with_user(audit_dsn, role, password),
                "schema": "public",
                "jobs": 2,
            }
        ),
        progress=lambda key, _rows: seen.append(key),
    )
    rows = {a.name.rsplit("/", 1)[-1]: a.row_count for a in result.exported}
    assert rows == {"public.audit_log.parquet": 2000, "public.users.parquet": 50}
    assert [f.target for f in result.failed] == ["public.secrets"]
    assert result.problem is not None
    assert result.problem.startswith("1 table(s) not snapshotted: public.secrets (permission")
    assert set(seen) == {"public.audit_log", "public.users"}
    assert (case.staging / result.folder / "snapshot.json").is_file()
    assert password not in json.dumps(result.model_dump(mode="json"))
    [entry] = journal(case, "evidence.snapshot")
    assert entry["result"] == "failed" and entry["details"]["schema"] == "public"


def test_snapshot_needs_a_table_or_a_schema(case, audit_dsn) -> None:
    with pytest.raises(BadInput, match="at least one table") as raised:
        snapshot(SnapshotSettings(case=str(case.root), dsn=audit_dsn))
    assert raised.value.field == "tables"
    assert journal(case, "evidence.snapshot")[-1]["result"] == "failed"


# -- scope ---------------------------------------------------------------------------------------
def test_scope_stores_the_record_in_the_case_and_returns_the_details(case, audit_dsn) -> None:
    execute(audit_dsn, USERS)
    export_audit(audit_settings(case, audit_dsn, since="2026-11-01", until="2026-11-03"))
    snapshot(SnapshotSettings(case=str(case.root), dsn=audit_dsn, tables=["public.users"]))
    found = scope(ScopeSettings(case=str(case.root), actors=["mallory"]))
    mine = "FROM audit_log WHERE actor = 'mallory'"
    assert found.events == fetch(audit_dsn, f"SELECT count(*) {mine}")[0][0] == 200
    assert found.principals == ["mallory"]
    assert found.tables == {"public.users": 200}
    assert found.records_touched == 5 and found.affected_users == 5
    assert found.contacts_from is not None and found.contacts_from.endswith("public.users.parquet")
    assert found.warnings == []
    stored = Case.load(str(case.root)).record.scope
    assert stored == found.record() and stored is not None
    assert stored.affected_users_artifact == "scope/affected-users.parquet"
    assert stored.since is not None and stored.since.isoformat() == "2026-11-01T00:00:00+00:00"
    on_disk = json.loads((case.staging / "scope" / "scope.json").read_text())
    assert on_disk == {k: v for k, v in found.model_dump(mode="json").items() if k != "warnings"}
    [entry] = journal(case, "scope.compute")
    assert entry["details"]["events"] == 200 and entry["details"]["affected_users"] == 5


def test_scope_warnings_are_data(case, audit_dsn) -> None:
    export_audit(audit_settings(case, audit_dsn, actors=["mallory"]))
    found = scope(ScopeSettings(case=str(case.root), ips=["192.0.2.0/24"], since="2026-11-01"))
    assert found.events == 0
    assert any("covers only" in w for w in found.warnings)
    assert any("exported only for actors mallory" in w for w in found.warnings)
    assert "no audit event matched the indicators in the window" in found.warnings


def test_scope_refuses_bad_input_and_leaves_the_case_alone(case, tmp_path) -> None:
    with pytest.raises(BadInput, match="no exported audit logs"):
        scope(ScopeSettings(case=str(case.root), actors=["mallory"]))
    export_audit(
        ExportAuditSettings(
            case=str(case.root),
            pgaudit_log=write_log(tmp_path),
            since="2026-11-01",
            until="2026-11-03",
        )
    )
    with pytest.raises(BadInput, match="no indicator") as no_indicator:
        scope(ScopeSettings(case=str(case.root)))
    assert no_indicator.value.field == "actors"
    with pytest.raises(BadInput) as bad_ip:
        scope(ScopeSettings(case=str(case.root), ips=["300.1.1.1"]))
    assert bad_ip.value.field == "ips"
    with pytest.raises(BadInput, match="is not before") as window:
        scope(
            ScopeSettings(case=str(case.root), actors=["x"], since="2026-11-02", until="2026-11-01")
        )
    assert window.value.field == "since"
    assert Case.load(str(case.root)).record.scope is None
    assert [e["result"] for e in journal(case, "scope.compute")] == ["failed"] * 4


# -- the registry --------------------------------------------------------------------------------
def test_registry_builds_collectors_by_name_from_plain_settings(case, audit_dsn) -> None:
    built = registry.build(
        "postgres.audit",
        {
            "dsn": audit_dsn,
            "table": "public.audit_log",
            "time_column": "occurred_at",
            "since": SINCE,
            "until": UNTIL,
            "jobs": 1,
        },
    )
    assert isinstance(built, AuditExport) and built.window.since.hour == 6
    artifacts, failures = built.collect(case)
    assert failures == [] and [a.row_count for a in artifacts] == [750]
    snap = registry.build("postgres.snapshot", {"dsn": audit_dsn, "schema": "public"})
    assert isinstance(snap, TableSnapshot) and snap.schema == "public"
    assert sorted(registry.COLLECTORS) == [
        "aws.cloudtrail",
        "aws.cloudwatch",
        "aws.s3-logs",
        "aws.snapshot",
        "postgres.audit",
        "postgres.pgaudit",
        "postgres.snapshot",
    ]
    with pytest.raises(BadInput, match=r"no evidence collector named 'postgres\.nope'"):
        registry.build("postgres.nope", {})
    with pytest.raises(ValidationError) as unknown:
        registry.build(
            "postgres.pgaudit", {"log": "x.log", "since": SINCE, "until": UNTIL, "colour": "red"}
        )
    assert unknown.value.errors()[0]["loc"] == ("colour",)


def test_registry_pgaudit_collector_reads_a_log(case, tmp_path: Path) -> None:
    collector = registry.PGAUDIT_LOG.build(
        {
            "log": write_log(tmp_path),
            "since": "2026-11-01",
            "until": "2026-11-03",
            "actors": ["mallory"],
            "artifact": "mallory-only",
        }
    )
    artifacts, failures = collector.collect(case)
    assert failures == [] and artifacts[0].name == "audit/mallory-only"
    assert artifacts[0].row_count == 3  # mallory's three parsed records
