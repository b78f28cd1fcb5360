"""A 1M-row export streams: the exporter's peak memory stays far below the data's size."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from .conftest import execute, fetch

pytestmark = pytest.mark.pg

ROWS = 1_000_000
PAD = 300  # bytes of text per row: ~300 MB of values, more than the exporter may hold
PEAK_LIMIT = 300 * 1024 * 1024


def test_one_million_rows_export_in_bounded_memory(pg_dsn, tmp_path) -> None:
    execute(
        pg_dsn,
        f"""CREATE UNLOGGED TABLE events AS
            SELECT g::bigint AS id,
                   timestamptz '2026-11-01' + g * interval '100 ms' AS at,
                   repeat(chr(65 + g % 26), {PAD}) AS pad
            FROM generate_series(1, {ROWS}) AS g""",
    )
    data_bytes = fetch(pg_dsn, "SELECT sum(octet_length(pad)) FROM events")[0][0]
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from datetime import datetime, UTC
        from evidence.interface import DirStager
        from evidence.postgres.audit import AuditExport, Window
        window = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
        result = AuditExport({pg_dsn!r}, window, "at", table="public.events", jobs=2).export(
            DirStager(Path({str(tmp_path)!r})))
        # VmHWM is this image's own peak: ru_maxrss from wait4 would include the
        # forked pytest process, which Linux carries across exec.
        hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        print(result.row_count, int(hwm.split()[1]) * 1024)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rows, peak = (int(x) for x in run.stdout.split())
    assert rows == ROWS
    assert data_bytes >= ROWS * PAD
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB for {data_bytes / 2**20:.0f} MiB"
    print(f"peak RSS {peak / 2**20:.0f} MiB for {data_bytes / 2**20:.0f} MiB of values")
