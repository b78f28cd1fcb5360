"""Failures as an operator meets them: a wrong password, connections lost during a snapshot."""

from __future__ import annotations

import threading

import pyarrow.parquet as pq
import pytest

from breach.case import Case
from evidence.postgres.snapshot import TableSnapshot

from .conftest import BIG, execute, terminate
from .test_snapshot import TABLES

pytestmark = pytest.mark.pg


def _staged_files(case: Case, suffix: str) -> list[str]:
    return sorted(p.name for p in case.staging.rglob(f"*{suffix}"))


def test_snapshot_workers_lost_once_are_retried_on_the_same_snapshot(case, pg_dsn) -> None:
    execute(pg_dsn, TABLES, *BIG)
    killed: list[int] = []
    read: list[int] = []
    lock = threading.Lock()

    def kill_once(key: str, rows: int) -> None:
        with lock:
            read.append(rows)
            if not killed:
                killed.append(terminate(pg_dsn, "breachkit-evidence-worker", wait=True))
                # committed after the snapshot: the re-read must not see it either
                execute(pg_dsn, "INSERT INTO big VALUES (60001, 'late')")

    report = TableSnapshot(
        pg_dsn, ["public.users", "public.big"], jobs=2, batch_bytes=65536, progress=kill_once
    ).run(case)
    assert killed and killed[0] >= 1 and report.failed == []
    assert sum(read) > 63000  # something was read twice: the retry happened
    assert {a.name.rsplit("/", 1)[-1]: a.row_count for a in report.exported} == {
        "public.users.parquet": 3000,
        "public.big.parquet": 60000,
    }
    big = pq.read_table(case.staging / report.folder / "public.big.parquet")
    assert sorted(big.column("id").to_pylist()) == list(range(1, 60001))
    assert _staged_files(case, ".parquet") == ["public.big.parquet", "public.users.parquet"]
    assert not [p for p in case.staging.rglob(".*")]  # no temporary left behind
