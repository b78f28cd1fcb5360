"""Snapshots: one point in time across tables and workers, DDL, locks, partial failure."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from ..conftest import execute, with_user
from ..test_snapshot import TABLES

pytestmark = pytest.mark.pg


def snapshot_args(case, dsn: str, *extra: str) -> list[str]:
    return ["evidence", "snapshot", "--case", str(case.root), "--dsn", dsn, *extra]


def test_snapshot_writes_parquet_ddl_counts_and_ids(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    result = breach(
        *snapshot_args(case, pg_dsn, "--table", "public.users", "--table", "sessions", "--json")
    )
    assert result.exit_code == 0, result.stderr
    data = result.json
    snapshot_id = data["snapshot"]["pg_snapshot"]
    folder = case.staging / "snapshot" / snapshot_id
    assert data["folder"] == f"snapshot/{snapshot_id}"
    users = pq.read_table(folder / "public.users.parquet")
    assert (
        users.num_rows == 3000
        and pq.read_table(folder / "public.sessions.parquet").num_rows == 6000
    )
    ddl = (folder / "public.users.ddl.sql").read_text()
    assert 'CREATE TABLE "public"."users"' in ddl and "PRIMARY KEY (id)" in ddl
    assert "UNIQUE (email)" in ddl and "CREATE INDEX users_created" in ddl
    assert '"email" text NOT NULL' in ddl
    sessions_ddl = (folder / "public.sessions.ddl.sql").read_text()
    assert "FOREIGN KEY (user_id) REFERENCES users(id)" in sessions_ddl
    assert "CHECK ((length(token) > 3))" in sessions_ddl
    meta = json.loads((folder / "public.users.parquet.meta.json").read_text())
    assert meta["source"]["row_count"] == 3000 and meta["source"]["table"] == "public.users"
    assert meta["source"]["pg_snapshot"] == snapshot_id and meta["source"]["lsn"]
    assert isinstance(meta["source"]["txid"], int)
    summary = json.loads((folder / "snapshot.json").read_text())
    assert summary["tables"] == {"public.users": 3000, "public.sessions": 6000}
    assert case.timeline()[-1]["what"] == "evidence.snapshot"


def test_permission_denied_on_one_table_fails_it_and_exports_the_rest(
    breach, case, pg_dsn, limited_role
) -> None:
    execute(pg_dsn, TABLES)
    role, password = limited_role
    execute(pg_dsn, f"GRANT SELECT ON public.users, public.sessions TO {role}")
    dsn = with_user(pg_dsn, role, password)
    result = breach(*snapshot_args(case, dsn, "--schema", "public", "--json"))
    assert result.exit_code == 1
    data = result.json
    assert [f["target"] for f in data["failed"]] == ["public.secrets"]
    assert "permission denied" in data["failed"][0]["reason"]
    assert sorted(a["name"].rsplit("/", 1)[-1] for a in data["exported"]) == [
        "public.sessions.parquet",
        "public.users.parquet",
    ]
    assert "1 table(s) not snapshotted: public.secrets" in result.stderr
    assert password not in result.stdout + result.stderr
    folder = case.staging / data["folder"]
    assert not (folder / "public.secrets.parquet").exists()
    summary = json.loads((folder / "snapshot.json").read_text())
    assert summary["failed"][0]["target"] == "public.secrets"
    assert case.timeline()[-1]["result"] == "failed"


def test_dry_run_lists_tables_and_stages_nothing(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES, "ANALYZE", "CREATE TABLE fresh AS SELECT 1 AS id")
    result = breach(*snapshot_args(case, pg_dsn, "--schema", "public", "--dry-run", "--json"))
    assert result.exit_code == 0, result.stderr
    tables = {t["table"]: t for t in result.json["tables"]}
    assert set(tables) == {"public.users", "public.sessions", "public.secrets", "public.fresh"}
    assert tables["public.fresh"]["estimated_rows"] is None  # never analyzed: unknown, not 0
    assert tables["public.users"]["estimated_rows"] == 3000
    assert tables["public.sessions"]["total_bytes"] > 0
    assert all(t["lock"] == "ACCESS SHARE" for t in tables.values())
    assert not any(case.staging.iterdir())
    assert case.timeline()[-1]["result"] == "dry-run"
    human = breach(
        *snapshot_args(case, pg_dsn, "--table", "public.users", "--table", "fresh", "--dry-run")
    )
    assert "public.users: ~3000 rows" in human.stdout
    assert "public.fresh: rows unknown (never analyzed)" in human.stdout


def test_unknown_table_is_bad_input_before_anything_is_read(breach, case, pg_dsn) -> None:
    execute(pg_dsn, TABLES)
    result = breach(
        *snapshot_args(case, pg_dsn, "--table", "public.users", "--table", "public.nope")
    )
    assert result.exit_code == 2
    assert "no table public.nope" in result.stderr and result.stderr.strip().count("\n") == 0
    assert not (case.staging / "snapshot").exists()
    empty_schema = breach(*snapshot_args(case, pg_dsn, "--schema", "nothing_here"))
    assert empty_schema.exit_code == 2 and "has no tables" in empty_schema.stderr


def test_row_level_security_is_warned_about(breach, case, pg_dsn, limited_role) -> None:
    execute(pg_dsn, TABLES)
    role, password = limited_role
    execute(
        pg_dsn,
        f"GRANT SELECT ON public.users TO {role}",
        "ALTER TABLE public.users ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY first_ten ON public.users FOR SELECT TO {role} USING (id <= 10)",
    )
    dsn = with_user(pg_dsn, role, password)
    result = breach(*snapshot_args(case, dsn, "--table", "public.users"))
    assert result.exit_code == 0, result.stderr
    assert "row-level security is on for public.users" in result.stderr
    assert "public.users.parquet: 10 rows" in result.stdout


def test_views_partitions_and_names_with_dots(breach, case, pg_dsn) -> None:
    execute(
        pg_dsn,
        TABLES,
        "CREATE MATERIALIZED VIEW user_ids AS SELECT id FROM users",
        "CREATE VIEW emails AS SELECT id, email FROM users WHERE id <= 10",
        "CREATE TABLE ev (id int, at timestamptz) PARTITION BY RANGE (at)",
        "CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM ('2026-11-01') TO ('2026-11-02')",
        "INSERT INTO ev SELECT g, '2026-11-01'::timestamptz + g * interval '1 s'"
        " FROM generate_series(1, 500) g",
        'CREATE SCHEMA "we.ird"',
        'CREATE TABLE "we.ird"."tab.le" (id int)',
        'INSERT INTO "we.ird"."tab.le" VALUES (1), (2)',
    )
    result = breach(
        *snapshot_args(
            case, pg_dsn, "--table", "user_ids", "--table", "public.emails", "--table", "ev",
            "--schema", "we.ird", "--json",
        )
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    counts = {a["name"].rsplit("/", 1)[-1]: a["row_count"] for a in result.json["exported"]}
    assert counts == {
        "public.user_ids.parquet": 3000,
        "public.emails.parquet": 10,
        "public.ev.parquet": 500,
        "we%2Eird.tab%2Ele.parquet": 2,  # dots inside names encoded: ("we", "ird.tab.le") differs
    }
    folder = case.staging / result.json["folder"]
    view_ddl = (folder / "public.emails.ddl.sql").read_text()
    assert 'CREATE VIEW "public"."emails" AS' in view_ddl and "id <= 10;" in view_ddl
    assert (
        'CREATE MATERIALIZED VIEW "public"."user_ids" AS'
        in (folder / "public.user_ids.ddl.sql").read_text()
    )
    dry = breach(*snapshot_args(case, pg_dsn, "--schema", "we.ird", "--dry-run", "--json"))
    assert [t["table"] for t in dry.json["tables"]] == ["we.ird.tab.le"]
