"""pgaudit export paths that once ran in no test (issue 16): filtering by actor and by IP, and
large logs written in batches (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from evidence.interface import DirStager
from evidence.postgres import pgaudit
from evidence.postgres.audit import Window
from evidence.postgres.pgaudit import PgauditExport

from .test_pgaudit import write_log

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def _rows(tmp_path: Path, **filters: list[str]) -> list[tuple[int, str | None, str | None]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    stager = DirStager(tmp_path / "stage")
    result = PgauditExport(write_log(tmp_path), WINDOW, **filters).export(stager)
    table = ds.dataset(tmp_path / "stage" / result.name, format="parquet").to_table()
    rows = sorted(
        zip(
            table.column("statement_id").to_pylist(),
            table.column("user_name").to_pylist(),
            table.column("client_addr").to_pylist(),
            strict=True,
        )
    )
    assert result.row_count == len(rows)
    assert result.meta["source"]["filters"] == {
        "actors": filters.get("actors", []),
        "ips": filters.get("ips", []),
    }
    return rows


def test_no_filter_keeps_every_record_in_the_window(tmp_path: Path) -> None:
    assert [r[0] for r in _rows(tmp_path)] == [1, 2, 3, 4, 5]


def test_filter_by_actor(tmp_path: Path) -> None:
    assert _rows(tmp_path, actors=["bob"]) == [(3, "bob", "10.1.2.3")]
    assert [r[0] for r in _rows(tmp_path / "m", actors=["mallory"])] == [1, 2, 5]


def test_filter_by_ip_block_v4_and_v6(tmp_path: Path) -> None:
    assert [r[0] for r in _rows(tmp_path, ips=["203.0.113.0/24"])] == [1, 2]
    assert _rows(tmp_path / "v6", ips=["2001:db8::/32"]) == [(5, "mallory", "2001:db8::5")]
    # a record without a client address never matches an IP filter
    assert _rows(tmp_path / "none", ips=["0.0.0.0/0"]) == [
        (1, "mallory", "203.0.113.7"), (2, "mallory", "203.0.113.7"), (3, "bob", "10.1.2.3"),
    ]  # fmt: skip


def test_actor_or_ip_matches_either(tmp_path: Path) -> None:
    rows = _rows(tmp_path, actors=["bob"], ips=["2001:db8::/32"])
    assert [r[0] for r in rows] == [3, 5]


def test_a_large_log_is_written_in_batches_with_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records go to the Parquet sink BATCH_ROWS at a time, never the whole log at once."""
    monkeypatch.setattr(pgaudit, "BATCH_ROWS", 1000)
    lines = [
        f"2026-11-01 10:{i // 60 % 60:02d}:{i % 60:02d}.000 UTC [1] u{i % 7}@app 10.0.0.{i % 250}(1)"
        f" LOG:  AUDIT: SESSION,{i},1,READ,SELECT,TABLE,public.t,select {i},<not logged>\n"
        for i in range(2500)
    ]
    log = write_log(tmp_path, "".join(lines), "big.log")
    stats = pgaudit.ParseStats()
    batches = list(pgaudit._batches(pgaudit.parse_log(log, stats)))
    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    put: list[int] = []
    original = pgaudit.ParquetSink.put

    def counting_put(self, batch) -> None:  # type: ignore[no-untyped-def]
        if batch is not None:  # None: the sink's own end-of-data marker
            put.append(batch.num_rows)
        original(self, batch)

    monkeypatch.setattr(pgaudit.ParquetSink, "put", counting_put)
    result = PgauditExport(log, WINDOW).export(DirStager(tmp_path / "stage"))
    assert put == [1000, 1000, 500] and result.row_count == 2500
    table = ds.dataset(tmp_path / "stage" / result.name, format="parquet").to_table()
    assert sorted(table.column("statement_id").to_pylist()) == list(range(2500))
