"""export-audit against a real PostgreSQL: windows, filters, metadata, bad input, lost links."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.dataset as ds
import pytest

from core.errors import BadInput
from evidence.postgres.audit import AuditExport, Window

from .conftest import BIG, execute, fetch, terminate

pytestmark = pytest.mark.pg


def test_lost_connection_is_retried_on_the_same_snapshot(case, pg_dsn) -> None:
    execute(
        pg_dsn,
        BIG[0].replace("AS pad", "AS pad, timestamptz '2026-11-01' + g * interval '1 s' AS at"),
    )
    killed: list[int] = []
    read: list[int] = []

    def kill_once(key: str, rows: int) -> None:
        read.append(rows)
        if not killed:
            killed.append(terminate(pg_dsn, "breachkit-evidence-worker", wait=True))
            execute(pg_dsn, "INSERT INTO big VALUES (60001, 'late', '2026-11-01T12:00:00Z')")

    exporter = AuditExport(
        pg_dsn,
        Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
        "at",
        table="public.big",
        jobs=1,
        batch_bytes=65536,
        progress=kill_once,
    )
    result = exporter.export(case)
    assert killed and killed[0] >= 1 and sum(read) > 60000  # a worker ended, rows re-read
    assert result.row_count == 60000
    table = ds.dataset(case.staging / "audit" / "public.big", format="parquet").to_table()
    assert sorted(table.column("id").to_pylist()) == list(range(1, 60001))  # not the late one


def test_library_collect_reports_failures_as_data(case, audit_dsn) -> None:
    exporter = AuditExport(
        audit_dsn,
        Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)),
        "occurred_at",
        table="public.audit_log",
    )
    artifacts, failed = exporter.collect(case)
    assert failed == [] and artifacts[0].row_count == 1440
    with pytest.raises(BadInput, match="already staged"):  # evidence is never overwritten
        exporter.collect(case)


def test_a_window_of_many_days_keeps_few_files_open(case, pg_dsn, monkeypatch) -> None:
    """Days arriving out of order past the open-file cap go on in a new part, rows intact."""
    import evidence.parquet

    monkeypatch.setattr(evidence.parquet, "MAX_OPEN_FILES", 8)
    execute(
        pg_dsn,
        "CREATE TABLE spread AS SELECT g AS id, timestamptz '2026-01-01'"
        " + (g % 40) * interval '1 day' + g * interval '1 ms' AS at FROM generate_series(1, 2000) g",
    )
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    result = AuditExport(pg_dsn, window, "at", table="public.spread", batch_bytes=4096).export(case)
    folder = case.staging / result.name
    per_day = {day.name: ds.dataset(day, format="parquet").count_rows() for day in folder.iterdir()}
    expected = fetch(
        pg_dsn, "SELECT 'day=' || (at AT TIME ZONE 'UTC')::date, count(*) FROM spread GROUP BY 1"
    )
    assert per_day == dict(expected) and len(per_day) == 40
    parts = result.meta["source"]["partitions"]
    assert sum(p["rows"] for p in parts) == result.row_count == 2000
    assert any(p["path"].endswith("part-0001.parquet") for p in parts)  # a day was reopened
    assert sorted(p["path"] for p in parts) == sorted(
        f.relative_to(folder).as_posix() for f in folder.rglob("*.parquet")
    )


def test_nth_part_names() -> None:
    from evidence.parquet import nth_part

    assert nth_part("day=2026-11-01/part-0000.parquet", 0) == "day=2026-11-01/part-0000.parquet"
    assert nth_part("day=2026-11-01/part-0000.parquet", 12) == "day=2026-11-01/part-0012.parquet"
    assert nth_part("public.users.parquet", 1) == "public.users-0001.parquet"
