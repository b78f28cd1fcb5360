"""export-audit paths that once ran in no test (issue 16): actor and IP columns named by the
caller over decoys that auto-detection would pick, and dotted, quoted schema and table names."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.dataset as ds
import pytest

from core.errors import BadInput
from evidence.postgres.audit import AuditExport, Window

from .conftest import execute

pytestmark = pytest.mark.pg

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
TABLE = '"ops.v2"."audit.events"'
DDL = f"""
CREATE SCHEMA "ops.v2";
CREATE TABLE {TABLE} (
    id int, at timestamptz, actor text, who text, source_ip inet, addr inet
);
INSERT INTO {TABLE}
SELECT g, timestamptz '2026-11-01 00:00:00+00' + g * interval '1 minute',
       'system',                                   -- a decoy actor column
       CASE WHEN g % 3 = 0 THEN 'mallory' ELSE 'alice' END,
       '10.0.0.1',                                 -- a decoy IP column
       CASE WHEN g % 4 = 0 THEN '203.0.113.9'::inet ELSE '10.9.9.9'::inet END
FROM generate_series(1, 24) AS g;
"""


def _ids(case, result) -> list[int]:  # type: ignore[no-untyped-def]
    table = ds.dataset(case.staging / result.name, format="parquet").to_table()
    return sorted(table.column("id").to_pylist())


def test_a_dotted_quoted_schema_and_table_name(case, pg_dsn) -> None:
    execute(pg_dsn, DDL)
    result = AuditExport(pg_dsn, WINDOW, "at", table=TABLE).export(case)
    assert result.row_count == 24 and _ids(case, result) == list(range(1, 25))
    assert result.name == "audit/ops%2Ev2.audit%2Eevents"  # each name's dots encoded
    assert result.meta["source"]["table"] in (TABLE, "ops.v2.audit.events")


def test_explicit_actor_column_is_used_over_a_detected_one(case, pg_dsn) -> None:
    execute(pg_dsn, DDL)
    detected = AuditExport(pg_dsn, WINDOW, "at", table=TABLE, actors=["mallory"], artifact="a")
    assert detected.export(case).row_count == 0  # the decoy "actor" column holds 'system'
    named = AuditExport(
        pg_dsn, WINDOW, "at", table=TABLE, actors=["mallory"], actor_column="who", artifact="b"
    ).export(case)
    assert _ids(case, named) == list(range(3, 25, 3))
    assert named.meta["source"]["roles"]["actor"] == "who"


def test_explicit_ip_column_is_used_over_a_detected_one(case, pg_dsn) -> None:
    execute(pg_dsn, DDL)
    detected = AuditExport(pg_dsn, WINDOW, "at", table=TABLE, ips=["203.0.113.0/24"], artifact="a")
    assert detected.export(case).row_count == 0  # the decoy source_ip is 10.0.0.1
    named = AuditExport(
        pg_dsn, WINDOW, "at", table=TABLE, ips=["203.0.113.0/24"], ip_column="addr", artifact="b"
    ).export(case)
    assert _ids(case, named) == list(range(4, 25, 4))
    assert named.meta["source"]["roles"]["ip"] == "addr"


def test_an_unknown_explicit_column_is_bad_input_naming_it(case, pg_dsn) -> None:
    execute(pg_dsn, DDL)
    export = AuditExport(pg_dsn, WINDOW, "at", table=TABLE, actors=["x"], actor_column="nobody")
    with pytest.raises(BadInput, match="unknown actor column 'nobody'") as raised:
        export.export(case)
    assert raised.value.field == "actor_column"
    assert not (case.staging / "audit").exists() or not any((case.staging / "audit").iterdir())
