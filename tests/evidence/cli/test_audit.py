"""export-audit against a real PostgreSQL: windows, filters, metadata, bad input, lost links."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from breach.case import Case
from manifests.staging import staged_artifacts

from ..conftest import execute, fetch, terminate

pytestmark = pytest.mark.pg

SINCE = "2026-11-01T06:00:00Z"
UNTIL = "2026-11-01T18:30:00Z"


def export_args(case: Case, dsn: str, *extra: str) -> list[str]:
    return [
        "evidence", "export-audit", "--case", str(case.root), "--dsn", dsn,
        "--table", "public.audit_log", "--time-column", "occurred_at", *extra,
    ]  # fmt: skip


def read_dataset(folder: Path) -> list[dict]:
    return ds.dataset(folder, format="parquet").to_table().sort_by("id").to_pylist()


def test_window_export_holds_exactly_the_rows_in_the_window(breach, case, audit_dsn) -> None:
    result = breach(*export_args(case, audit_dsn, "--since", SINCE, "--until", UNTIL, "--json"))
    assert result.exit_code == 0, result.stderr
    expected = [
        r[0]
        for r in fetch(
            audit_dsn,
            "SELECT id FROM audit_log WHERE occurred_at >= %s AND occurred_at < %s ORDER BY id",
            (SINCE, UNTIL),
        )
    ]
    assert len(expected) == 750  # 06:00 inclusive .. 18:30 exclusive, one a minute
    folder = case.staging / "audit" / "public.audit_log"
    rows = read_dataset(folder)
    assert [r["id"] for r in rows] == expected
    assert sorted(p.name for p in folder.iterdir()) == ["day=2026-11-01"]
    meta = json.loads((case.staging / "audit" / "public.audit_log.meta.json").read_text())
    source = meta["source"]
    assert meta["media_type"] == "application/vnd.apache.parquet"
    assert meta["collector"]["name"] == "evidence.postgres.audit"
    assert source["row_count"] == 750
    assert source["window"] == {"since": SINCE, "until": UNTIL}
    assert source["oldest_event"] == "2026-11-01T06:00:00Z"
    assert source["newest_event"] == "2026-11-01T18:29:00Z"
    assert source["table"] == "public.audit_log" and "occurred_at" in source["query"]
    assert source["pg_snapshot"] and source["lsn"] and source["txid"] > 0
    assert source["server_version"] and len(source["schema_sha256"]) == 64
    assert "amount: decimal128(12, 2)" in source["arrow_schema"]
    assert source["roles"]["actor"] == "actor" and source["roles"]["subject"] == "target_user_id"
    assert result.json["artifacts"][0]["row_count"] == 750
    # what sealing will see: the day files, described by the folder's sidecar
    staged = staged_artifacts(case.staging)
    assert [a.name.as_posix() for a in staged] == [
        "audit/public.audit_log/day=2026-11-01/part-0000.parquet"
    ]
    assert staged[0].meta["source"]["row_count"] == 750
    entry = case.timeline()[-1]
    assert entry["what"] == "evidence.export-audit" and entry["details"]["rows"] == 750


def test_days_partition_and_filters_by_actor_or_ip(breach, case, audit_dsn) -> None:
    args = export_args(
        case, audit_dsn,
        "--since", "2026-10-31T00:00:00Z", "--until", "2026-11-03T00:00:00Z",
        "--actor", "staff1", "--ip", "203.0.113.0/29", "--jobs", "2",
    )  # fmt: skip
    result = breach(*args)
    assert result.exit_code == 0, result.stderr
    folder = case.staging / "audit" / "public.audit_log"
    assert sorted(p.name for p in folder.iterdir()) == ["day=2026-11-01", "day=2026-11-02"]
    rows = read_dataset(folder)
    expected = fetch(
        audit_dsn,
        "SELECT id FROM audit_log WHERE actor = 'staff1' OR source_ip <<= '203.0.113.0/29'"
        " ORDER BY id",
    )
    assert [r["id"] for r in rows] == [e[0] for e in expected]
    for row in rows:
        assert datetime(2026, 11, 1, tzinfo=UTC) <= row["occurred_at"]
    day2 = pq.read_table(folder / "day=2026-11-02" / "part-0000.parquet")
    assert all(t.date().isoformat() == "2026-11-02" for t in day2.column("occurred_at").to_pylist())


def test_custom_query_needs_a_name_and_is_windowed(breach, case, audit_dsn) -> None:
    query = "SELECT id, occurred_at, actor, amount * 2 AS doubled FROM audit_log WHERE success"
    base = [
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--query", query, "--time-column", "occurred_at", "--since", SINCE, "--until", UNTIL,
    ]  # fmt: skip
    unnamed = breach(*base)
    assert unnamed.exit_code == 2 and "--name" in unnamed.stderr
    result = breach(*base, "--name", "successful", "--json")
    assert result.exit_code == 0, result.stderr
    table = ds.dataset(case.staging / "audit" / "successful", format="parquet").to_table()
    expected = fetch(
        audit_dsn,
        "SELECT count(*) FROM audit_log WHERE success AND occurred_at >= %s AND occurred_at < %s",
        (SINCE, UNTIL),
    )[0][0]
    assert table.num_rows == expected
    assert str(table.schema.field("doubled").type).startswith("decimal128(")


def test_empty_window_stages_a_valid_empty_artifact_and_warns(breach, case, audit_dsn) -> None:
    result = breach(
        *export_args(case, audit_dsn, "--since", "2030-01-01T00:00:00Z", "--until", "2030-01-02")
    )
    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr and "no rows" in result.stderr
    part = case.staging / "audit" / "public.audit_log" / "day=2030-01-01" / "part-0000.parquet"
    table = pq.read_table(part)
    assert table.num_rows == 0 and "occurred_at" in table.schema.names
    assert case.timeline()[-1]["result"] == "empty"
    assert "0 rows (no event in the window)" in result.stdout
    meta = json.loads((case.staging / "audit" / "public.audit_log.meta.json").read_text())
    assert meta["source"]["row_count"] == 0 and meta["source"]["oldest_event"] is None
    assert [a.name.name for a in staged_artifacts(case.staging)] == ["part-0000.parquet"]
    duckdb = pytest.importorskip("duckdb", reason="DuckDB check: pip install duckdb")
    described = duckdb.sql(f"SELECT count(*), max(amount) FROM '{part}'").fetchall()
    assert described == [(0, None)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--table", "public.nope", "--time-column", "occurred_at"], "no table public.nope"),
        (["--table", "public.audit_log", "--time-column", "nope"], "unknown column 'nope'"),
        (["--table", "public.audit_log", "--time-column", "actor"], "not a timestamp"),
        (
            ["--table", "public.audit_log", "--time-column", "occurred_at", "--ip", "10.0.0.999"],
            "not an IP address",
        ),
        (
            ["--query", "SELEC broken", "--name", "x", "--time-column", "occurred_at"],
            "syntax error",
        ),
        # sealing skips dot-names; scope looks one level under audit/
        (["--table", "audit_log", "--time-column", "occurred_at", "--name", ".x"], "plain name"),
        (["--table", "audit_log", "--time-column", "occurred_at", "--name", "a/b"], "plain name"),
        (["--pgaudit-log", __file__, "--name", ".hidden"], "plain name"),
    ],
)
def test_bad_input_is_one_line_exit_2(breach, case, audit_dsn, extra, message) -> None:
    result = breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--since", SINCE, "--until", UNTIL, *extra,
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (case.staging / "audit").exists() or not any((case.staging / "audit").iterdir())


def test_wrong_dsn_is_one_line_exit_2_without_the_password(breach, case, pg_dsn) -> None:
    from ..conftest import with_user

    nobody = with_user(pg_dsn, "no_such_role_bk", "s3cret-pw")
    result = breach(*export_args(case, nobody, "--since", SINCE, "--until", UNTIL))
    assert result.exit_code == 2
    assert "cannot connect to PostgreSQL" in result.stderr and "no_such_role_bk" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert result.stderr.strip().count("\n") == 0
    closed = "postgresql://postgres:s3cret-pw@127.0.0.1:1/db"
    result = breach(*export_args(case, closed, "--since", SINCE, "--until", UNTIL))
    assert result.exit_code == 2 and "s3cret-pw" not in result.stderr
    journal = case.journal_path.read_text()
    assert "s3cret-pw" not in journal and '"result":"failed"' in journal.replace(" ", "")


def test_permission_denied_fails_the_step(breach, case, audit_dsn, limited_role) -> None:
    from ..conftest import with_user

    role, password = limited_role
    result = breach(
        *export_args(case, with_user(audit_dsn, role, password), "--since", SINCE, "--until", UNTIL)
    )
    assert result.exit_code == 1
    assert "permission denied for table public.audit_log" in result.stderr
    assert password not in result.stderr


def test_lost_connection_for_good_fails_cleanly_with_nothing_staged(
    breach, case, audit_dsn
) -> None:
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            terminate(audit_dsn, "breachkit-evidence-worker")
            stop.wait(0.002)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = breach(
            *export_args(case, audit_dsn, "--since", "2026-10-01", "--until", "2026-12-01")
        )
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 1, result.stderr
    assert result.stderr.strip().count("\n") == 0
    leftovers = [p for p in case.staging.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
    assert case.timeline()[-1]["result"] == "failed"


def test_window_with_offsets_on_a_naive_timestamp_column(breach, case, audit_dsn) -> None:
    """A `timestamp` column is taken as UTC; +02:00 bounds mean the same instants in UTC."""

    execute(
        audit_dsn,
        "CREATE TABLE public.naive_log AS SELECT id, occurred_at AT TIME ZONE 'UTC' AS at, actor"
        " FROM audit_log",
        "INSERT INTO public.naive_log VALUES (0, NULL, 'nobody')",
    )
    result = breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--table", "public.naive_log", "--time-column", "at",
        "--since", "2026-11-01T08:00:00+02:00", "--until", "2026-11-01T20:30:00+02:00", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = read_dataset(case.staging / "audit" / "public.naive_log")
    expected = fetch(
        audit_dsn,
        "SELECT id FROM audit_log WHERE occurred_at >= %s AND occurred_at < %s ORDER BY id",
        (SINCE, UNTIL),
    )
    assert [r["id"] for r in rows] == [e[0] for e in expected] and len(rows) == 750
    assert rows[0]["at"] == datetime(2026, 11, 1, 6, 0)  # the inclusive bound, naive UTC
    assert result.json["artifacts"][0]["window"] == {
        "since": "2026-11-01T06:00:00Z",
        "until": "2026-11-01T18:30:00Z",
    }


def test_a_query_failing_mid_stream_is_one_clean_line_exit_1(breach, case, audit_dsn) -> None:
    """The server's reason alone: not the driver's wrapping, not the whole query echoed back."""
    result = breach(
        "evidence", "export-audit", "--case", str(case.root), "--dsn", audit_dsn,
        "--query", "SELECT occurred_at, 1 / (id - 1500) AS x FROM audit_log", "--name", "div",
        "--time-column", "occurred_at", "--since", SINCE, "--until", "2026-11-03",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: reading query failed: division by zero"
    assert not [p for p in case.staging.rglob("*") if p.is_file()]
    assert case.timeline()[-1]["result"] == "failed"
