"""PostgreSQL column types -> Arrow types that pyarrow, DuckDB, pandas and Athena read as values.

The ADBC driver turns COPY BINARY into Arrow in C++, fast for the types it knows. Where it would
leave an opaque extension value (inet, numeric, uuid, interval, enums, ...) the server casts the
column to text, and numeric text becomes an exact decimal128 here (text past 38 digits, which
DuckDB and Athena could only read as a lossy double).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

# Types whose Arrow form from ADBC is already a plain, readable value.
_NATIVE: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "bytea": pa.binary(),
}
# Server-side casts that keep the value exact and readable.
_CAST_TO: dict[str, tuple[str, pa.DataType]] = {
    "oid": ("int8", pa.int64()),
    "xid": ("text", pa.string()),
    "json": ("text", pa.string()),
    "jsonb": ("text", pa.string()),
}
NUMERIC_MAX_DECIMAL128 = 38


@dataclass(frozen=True)
class Column:
    name: str
    typname: str  # pg_type.typname of the column (or its domain's base type)
    formatted: str  # format_type(): what the DDL says, e.g. numeric(12,2)
    typtype: str  # b base, e enum, d domain, c composite, r range, ...
    element: str | None = None  # for arrays: the element's typname
    precision: int | None = None  # numeric(p, s)
    scale: int | None = None

    @property
    def is_array(self) -> bool:
        return self.element is not None


@dataclass(frozen=True)
class ColumnPlan:
    column: Column
    select: sql.Composable  # what the worker SELECTs
    arrow_type: pa.DataType  # what lands in Parquet
    text_cast: bool  # True when the server renders the value as text

    def field(self) -> pa.Field:
        meta = {"pg_type": self.column.formatted}
        return pa.field(self.column.name, self.arrow_type, metadata=meta)


_COLUMNS_OF_RELATION = """
SELECT a.attname, coalesce(bt.typname, t.typname), format_type(a.atttypid, a.atttypmod),
       coalesce(bt.typtype, t.typtype), et.typname,
       CASE WHEN coalesce(bt.typname, t.typname) = 'numeric' AND a.atttypmod >= 4
            THEN ((a.atttypmod - 4) >> 16) & 65535 END,
       CASE WHEN coalesce(bt.typname, t.typname) = 'numeric' AND a.atttypmod >= 4
            THEN (a.atttypmod - 4) & 65535 END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_type et ON et.oid = coalesce(bt.typelem, t.typelem)
     AND coalesce(bt.typcategory, t.typcategory) = 'A'
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_TYPE_BY_OID = """
SELECT coalesce(bt.typname, t.typname), format_type(t.oid, NULL), coalesce(bt.typtype, t.typtype),
       et.typname
FROM pg_type t
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_type et ON et.oid = coalesce(bt.typelem, t.typelem)
     AND coalesce(bt.typcategory, t.typcategory) = 'A'
WHERE t.oid = %s
"""


def relation_columns(conn: psycopg.Connection[Any], relid: int) -> list[Column]:
    rows = conn.execute(_COLUMNS_OF_RELATION, (relid,)).fetchall()
    return [Column(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def query_columns(conn: psycopg.Connection[Any], query: sql.Composable) -> list[Column]:
    """Describe a query's result without running it for real (LIMIT 0)."""
    wrapped = sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(query)
    with conn.cursor() as cur:
        cur.execute(wrapped)
        described = cur.description or []
        columns = []
        for desc in described:
            row = conn.execute(_TYPE_BY_OID, (desc.type_code,)).fetchone()
            if row is None:
                raise ValueError(f"unknown type oid {desc.type_code}")
            precision = desc.precision if row[0] == "numeric" else None
            scale = desc.scale if precision else None
            formatted = f"numeric({precision},{scale})" if precision else row[1]
            columns.append(Column(desc.name, row[0], formatted, row[2], row[3], precision, scale))
    return columns


def decimal_type(precision: int, scale: int) -> pa.DataType:
    return pa.decimal128(precision, scale)


def plan_column(column: Column, numeric_bounds: tuple[int, int] | None = None) -> ColumnPlan:
    """How one column is selected and what Arrow type it becomes.

    `numeric_bounds` (precision, scale) is measured from the data for an unconstrained numeric;
    None there means the data holds NaN/Infinity, so it stays exact as text.
    """
    ident = sql.Identifier(column.name)
    as_text = sql.SQL("{}::text AS {}").format(ident, ident)
    if column.is_array:
        if column.element in _NATIVE and column.element not in ("bytea",):
            return ColumnPlan(column, ident, pa.list_(_NATIVE[column.element]), False)
        # via the array's text form: each element in its type's own output format
        text_array = sql.SQL("{}::text::text[] AS {}").format(ident, ident)
        return ColumnPlan(column, text_array, pa.list_(pa.string()), True)
    if column.typname in _NATIVE:
        return ColumnPlan(column, ident, _NATIVE[column.typname], False)
    if column.typname in _CAST_TO:
        target, arrow_type = _CAST_TO[column.typname]
        cast = sql.SQL("{}::{} AS {}").format(ident, sql.SQL(target), ident)
        return ColumnPlan(column, cast, arrow_type, True)
    if column.typname == "numeric":
        bounds = (column.precision, column.scale or 0) if column.precision else numeric_bounds
        # Past 38 digits DuckDB and Athena would read a decimal256 as a lossy double: text is exact.
        if bounds and bounds[0] <= NUMERIC_MAX_DECIMAL128:
            return ColumnPlan(column, as_text, decimal_type(bounds[0], bounds[1]), True)
        return ColumnPlan(column, as_text, pa.string(), True)
    if column.typname == "inet":  # inet::text always adds /32; abbrev() is inet's own form
        return ColumnPlan(
            column, sql.SQL("abbrev({}) AS {}").format(ident, ident), pa.string(), True
        )
    # cidr, uuid, interval, macaddr, money, enums, ranges, composites, xml, ...
    return ColumnPlan(column, as_text, pa.string(), True)


def unconstrained_numerics(columns: list[Column]) -> list[Column]:
    return [c for c in columns if c.typname == "numeric" and not c.is_array and not c.precision]


def numeric_bounds_sql(column: Column, source: sql.Composable) -> sql.Composed:
    """Digits before and after the point, and whether any value is NaN or infinite."""
    ident = sql.Identifier(column.name)
    return sql.SQL(
        "SELECT max(scale({c})), max(length(trunc(abs({c}))::text)),"
        " count(*) FILTER (WHERE {c} IN ('NaN', 'Infinity', '-Infinity'))"
        " FROM {src}"
    ).format(c=ident, src=source)


def bounds_from_row(row: tuple[Any, ...] | None) -> tuple[int, int] | None:
    if row is None or row[2]:
        return None
    scale = int(row[0] or 0)
    integer_digits = int(row[1] or 1)
    return max(integer_digits + scale, 1), scale


def arrow_schema(plans: list[ColumnPlan]) -> pa.Schema:
    return pa.schema([p.field() for p in plans])


def convert_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast ADBC's batch to the planned schema (decimals parsed, extension types unwrapped)."""
    arrays = []
    for index, target in enumerate(schema):
        array = batch.column(index)
        if isinstance(array, pa.ExtensionArray):
            array = array.storage
        if not array.type.equals(target.type):
            array = pc.cast(array, target.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
