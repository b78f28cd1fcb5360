"""Guards against mutations that once survived the evidence tests (issue 16)."""

from __future__ import annotations

import re
import threading
from collections import Counter

import pyarrow.parquet as pq
import pytest

from evidence.postgres.snapshot import TableSnapshot

from .conftest import execute, fetch

pytestmark = pytest.mark.pg

WORKERS = 3


class SplitWitness:
    """A progress callback that holds each worker thread on its first batch until all WORKERS
    threads are reading at once, then asks the server what each worker is running.

    A table that is not split is one task read by one thread: the barrier breaks and the table
    fails. Split, each of the three threads holds a different part, so no thread can take a
    second one, and pg_stat_activity shows three statements, each with its own ctid range."""

    def __init__(self, dsn: str, meanwhile=None) -> None:  # type: ignore[no-untyped-def]
        self.dsn = dsn
        self.barrier = threading.Barrier(WORKERS, timeout=10, action=self._look)
        self.rows: Counter[str] = Counter()
        self.statements: list[str] = []
        self.meanwhile = meanwhile
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def _look(self) -> None:
        self.statements = [
            row[0]
            for row in fetch(
                self.dsn,
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'breachkit-evidence%'"
                " AND query LIKE '%ctid%'",
            )
        ]
        if self.meanwhile:
            self.meanwhile()

    def __call__(self, key: str, rows: int) -> None:
        name = threading.current_thread().name
        with self._lock:
            self.rows[name] += rows
            first = name not in self._seen
            self._seen.add(name)
        if first:
            self.barrier.wait()

    def ranges(self) -> list[str]:
        return sorted(
            "".join(re.findall(r"ctid [<>]=? '\(\d+,0\)'::tid", statement))
            for statement in self.statements
        )


def test_snapshot_really_splits_a_large_table_across_workers(case, pg_dsn) -> None:
    """Mutation: a snapshot that never splits a table across workers (ctid ranges of one
    worker). Proved from what the workers read: three worker statements on the server at
    once, each with a different ctid range, and every worker thread streamed rows."""
    execute(
        pg_dsn,
        "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 60000) g",
        "ANALYZE big",
    )
    witness = SplitWitness(pg_dsn)
    report = TableSnapshot(
        pg_dsn, ["public.big"], jobs=WORKERS, batch_bytes=65536, progress=witness
    ).run(case)
    assert report.failed == [], report.failed
    ids = pq.read_table(case.staging / report.exported[0].name).column("id").to_pylist()
    assert sorted(ids) == list(range(1, 60001))  # every row once, none twice
    assert len(witness.statements) == WORKERS
    assert len(set(witness.ranges())) == WORKERS and all(witness.ranges())
    assert len(witness.rows) == WORKERS and all(n > 0 for n in witness.rows.values())
    assert sum(witness.rows.values()) == 60000


def test_split_table_rewritten_while_every_worker_reads_is_read_as_of_the_snapshot(
    case, pg_dsn
) -> None:
    """The rewritten-meanwhile case, with the split proved: the writes land while all three
    workers are mid-read of their own ctid ranges, and the snapshot still sees each row once,
    in its old version."""
    execute(
        pg_dsn,
        "CREATE TABLE big AS SELECT g AS id, 'old' AS state, repeat('x', 200) AS pad"
        " FROM generate_series(1, 60000) g",
        "ANALYZE big",
    )

    def rewrite() -> None:
        execute(
            pg_dsn,
            "UPDATE big SET state = 'new' WHERE id % 2 = 0",
            "DELETE FROM big WHERE id <= 100",
            "INSERT INTO big SELECT g, 'late', '' FROM generate_series(60001, 61000) g",
        )

    witness = SplitWitness(pg_dsn, meanwhile=rewrite)
    report = TableSnapshot(
        pg_dsn, ["public.big"], jobs=WORKERS, batch_bytes=65536, progress=witness
    ).run(case)
    assert report.failed == [], report.failed
    assert len(set(witness.ranges())) == WORKERS
    table = pq.read_table(case.staging / report.exported[0].name)
    assert sorted(table.column("id").to_pylist()) == list(range(1, 60001))
    assert set(table.column("state").to_pylist()) == {"old"}
    assert fetch(pg_dsn, "SELECT count(*) FILTER (WHERE state = 'new') FROM big")[0][0] == 29950


def test_library_collect_returns_a_failed_export_as_data(case, audit_dsn, limited_role) -> None:
    """Mutation: the library's export `collect()` raising instead of returning the failure.
    A role that may not read the audit table makes the export fail: collect() returns it as a
    FailedItem naming the table and the reason, and stages nothing."""
    from datetime import UTC, datetime

    from core.errors import StepFailed
    from evidence.postgres.audit import AuditExport, Window

    from .conftest import with_user

    user, password = limited_role
    exporter = AuditExport(
        with_user(audit_dsn, user, password),
        Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)),
        "occurred_at",
        table="public.audit_log",
    )
    with pytest.raises(StepFailed) as raised:  # what export() says, collect() must return
        exporter.export(case)
    artifacts, failed = exporter.collect(case)
    assert artifacts == []
    assert [(f.target, f.reason) for f in failed] == [("public.audit_log", raised.value.message)]
    assert "permission" in failed[0].reason.lower() or "privilege" in failed[0].reason.lower()
    assert not list((case.staging).rglob("*.parquet"))
