"""Every PostgreSQL type we promise lands in Parquet as a readable value, not a binary blob."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from evidence.interface import DirStager
from evidence.postgres.audit import AuditExport, Window
from evidence.postgres.snapshot import TableSnapshot

from .conftest import execute

pytestmark = pytest.mark.pg

DDL = """
CREATE TYPE mood AS ENUM ('calm', 'angry');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE public.everything (
    i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, ok boolean,
    t text, vc varchar(20), ch char(3), nm name,
    exact numeric(12, 2), wide numeric(50, 10), free numeric, weird numeric,
    ts timestamptz, naive timestamp, d date, tm time, span interval,
    addr inet, net cidr, mac macaddr, id uuid, feeling mood, dom positive,
    doc json, docb jsonb, bytes bytea,
    ints integer[], texts text[], addrs inet[], nums numeric[], o oid
);
INSERT INTO public.everything VALUES (
    -2, 40000, 9000000000, 1.5, 2.25, true,
    'héllo', 'v', 'ab', 'nm',
    1234567890.12, 1234567890123456789012345678901234567890.0123456789, 3.14159, 'NaN',
    '2026-11-01 12:34:56.789012+02', '2026-11-01 01:02:03', '2026-11-01', '13:14:15',
    '1 day 02:03:04', '192.168.1.5/24', '10.0.0.0/8', '08:00:2b:01:02:03',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'angry', 7,
    '{"a": [1, 2]}', '{"b": {"c": "d"}}', '\\x00ff10',
    '{1,NULL,3}', '{"x","y z",NULL}', '{10.0.0.1,::1}', '{1.5,2}', 4000000000
);
INSERT INTO public.everything (i4) VALUES (NULL);
"""


def test_every_type_round_trips_to_readable_arrow(pg_dsn, tmp_path) -> None:
    execute(pg_dsn, DDL)
    report = TableSnapshot(pg_dsn, ["public.everything"]).run(DirStager(tmp_path))
    assert report.failed == []
    table = pq.read_table(tmp_path / report.exported[0].name)
    schema = {f.name: f.type for f in table.schema}
    for field in table.schema:  # nothing opaque: no extension types, no blobs but bytea
        assert not isinstance(field.type, pa.ExtensionType), field
        assert field.type != pa.binary() or field.name == "bytes", field
    assert schema["exact"] == pa.decimal128(12, 2)
    assert schema["wide"] == pa.string()  # past 38 digits: exact text, not a lossy double
    assert schema["free"] == pa.decimal128(6, 5)  # unconstrained: sized from the data
    assert schema["weird"] == pa.string()  # NaN has no decimal form: kept exact as text
    assert schema["ts"] == pa.timestamp("us", tz="UTC")
    assert schema["ints"] == pa.list_(pa.int32())
    assert schema["o"] == pa.int64()
    row = table.to_pylist()[0]
    assert (row["i2"], row["i4"], row["i8"], row["ok"]) == (-2, 40000, 9000000000, True)
    assert (row["f4"], row["f8"]) == (1.5, 2.25)
    assert (row["t"], row["vc"], row["ch"], row["nm"]) == ("héllo", "v", "ab ", "nm")
    assert row["exact"] == Decimal("1234567890.12")
    assert row["wide"] == "1234567890123456789012345678901234567890.0123456789"
    assert row["free"] == Decimal("3.14159") and row["weird"] == "NaN"
    assert row["ts"] == dt.datetime(2026, 11, 1, 10, 34, 56, 789012, tzinfo=dt.UTC)
    assert row["naive"] == dt.datetime(2026, 11, 1, 1, 2, 3)
    assert row["d"] == dt.date(2026, 11, 1) and row["tm"] == dt.time(13, 14, 15)
    assert row["span"] == "1 day 02:03:04"
    assert (row["addr"], row["net"], row["mac"]) == (
        "192.168.1.5/24",
        "10.0.0.0/8",
        "08:00:2b:01:02:03",
    )
    assert row["id"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert (row["feeling"], row["dom"]) == ("angry", 7)
    assert json.loads(row["doc"]) == {"a": [1, 2]} and json.loads(row["docb"]) == {"b": {"c": "d"}}
    assert row["bytes"] == b"\x00\xff\x10"
    assert row["ints"] == [1, None, 3] and row["texts"] == ["x", "y z", None]
    assert row["addrs"] == ["10.0.0.1", "::1"] and row["nums"] == ["1.5", "2"]
    assert row["o"] == 4000000000
    assert table.to_pylist()[1]["i4"] is None
    field_meta = table.schema.field("addr").metadata
    assert field_meta == {b"pg_type": b"inet"}  # the PostgreSQL type travels with the column


@pytest.fixture
def everything_parquet(pg_dsn, tmp_path):
    execute(pg_dsn, DDL)
    report = TableSnapshot(pg_dsn, ["public.everything"]).run(DirStager(tmp_path))
    return tmp_path / report.exported[0].name


def test_duckdb_reads_the_values(everything_parquet) -> None:
    duckdb = pytest.importorskip("duckdb", reason="DuckDB check: pip install duckdb")
    got = duckdb.sql(
        f"SELECT exact, wide, addr, feeling, ts, texts, docb::JSON->>'$.b.c'"
        f" FROM '{everything_parquet}' WHERE i4 = 40000"
    ).fetchall()
    exact, wide, addr, feeling, ts, texts, json_value = got[0]
    assert exact == Decimal("1234567890.12") and addr == "192.168.1.5/24"
    assert wide == "1234567890123456789012345678901234567890.0123456789"
    assert feeling == "angry" and texts == ["x", "y z", None] and json_value == "d"
    assert ts.astimezone(dt.UTC) == dt.datetime(2026, 11, 1, 10, 34, 56, 789012, tzinfo=dt.UTC)


def test_pandas_reads_the_values(everything_parquet) -> None:
    pd = pytest.importorskip("pandas", reason="pandas check: pip install pandas")
    frame = pq.read_table(everything_parquet).to_pandas()
    row = frame[frame["i4"] == 40000].iloc[0]
    assert (
        row["exact"] == Decimal("1234567890.12")
        and row["id"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    )
    assert str(row["ts"]) == "2026-11-01 10:34:56.789012+00:00"
    first, missing, last = list(row["ints"])
    assert (first, last) == (1, 3) and pd.isna(missing)


def test_audit_export_keeps_the_same_types_and_duckdb_reads_every_column(pg_dsn, tmp_path) -> None:
    """export-audit plans columns as the snapshot does; DuckDB reads the day partitions whole."""
    duckdb = pytest.importorskip("duckdb", reason="DuckDB check: pip install duckdb")
    execute(pg_dsn, DDL)
    stager = DirStager(tmp_path)
    snapshot = TableSnapshot(pg_dsn, ["public.everything"]).run(stager)
    window = Window(
        dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    )
    exported = AuditExport(pg_dsn, window, "ts", table="public.everything", jobs=2).export(stager)
    assert exported.row_count == 1  # the NULL-ts row is outside every window
    audit = ds.dataset(tmp_path / exported.name, format="parquet", partitioning="hive")
    whole = pq.read_table(tmp_path / snapshot.exported[0].name)
    assert audit.schema.remove(audit.schema.get_field_index("day")) == whole.schema
    assert audit.to_table().drop_columns(["day"]).to_pylist() == whole.to_pylist()[:1]
    files = f"{tmp_path / exported.name}/*/*.parquet"
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{files}', hive_partitioning = true)")
    kinds = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    assert [name for name, kind in kinds.items() if "BLOB" in kind] == ["bytes"]
    assert kinds["exact"] == "DECIMAL(12,2)" and kinds["ts"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["ints"] == "INTEGER[]" and kinds["addrs"] == "VARCHAR[]"
    row = dict(zip(relation.columns, relation.fetchall()[0], strict=True))
    assert row["exact"] == Decimal("1234567890.12") and row["free"] == Decimal("3.14159")
    assert (row["addr"], row["id"], row["span"]) == (
        "192.168.1.5/24",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "1 day 02:03:04",
    )
    assert row["day"] == dt.date(2026, 11, 1) and row["o"] == 4000000000
